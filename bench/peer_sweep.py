"""The peer: the sequential loop a user would write with twilio-python (list, then fetch each)."""

import json
import sys
import time

from twilio.rest import Client

from bench.bodies import ACCOUNT, TOKEN, WORKSPACE


def main() -> None:
    """List every worker, fetch each one in turn, print the count and the seconds it took."""
    started = time.perf_counter()
    client = Client(ACCOUNT, TOKEN, ACCOUNT)
    client.taskrouter.base_url = sys.argv[1]
    workers = client.taskrouter.v1.workspaces(WORKSPACE).workers
    fetched = [workers(worker.sid).fetch() for worker in workers.list()]
    print(json.dumps({"workers": len(fetched), "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
