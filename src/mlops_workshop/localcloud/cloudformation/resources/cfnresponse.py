"""The `cfnresponse` module CloudFormation puts beside a Python function's inline code (Code.ZipFile), with the
interface AWS documents: send(event, context, responseStatus, responseData, physicalResourceId=None, noEcho=False,
reason=None) PUTs the custom resource's answer to the event's ResponseURL. Written here on the standard library."""

import json
import urllib.request

SUCCESS = "SUCCESS"
FAILED = "FAILED"


def send(event, context, responseStatus, responseData, physicalResourceId=None, noEcho=False, reason=None):
    stream = getattr(context, "log_stream_name", "")
    body = json.dumps({
        "Status": responseStatus,
        "Reason": reason or f"See the details in CloudWatch Log Stream: {stream}",
        "PhysicalResourceId": physicalResourceId or stream,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": noEcho,
        "Data": responseData,
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            print("Status code:", answer.status)
    except Exception as error:
        print("send(..) failed executing http request:", error)
