"""What a Glue Python-shell script imports from Glue itself (the `awsglue` package here) and the launcher that runs
it with Glue's sys.path. Both run in the script's own interpreter (Python 3.9 where the machine has it): standard
library only, valid Python 3.9."""
