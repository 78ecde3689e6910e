"""Application Auto Scaling on the local cloud: moto's, with the answers AWS gives that moto leaves out."""
