"""How the server and the worker log: one line per record, no process or
thread looked up, and no third-party line that carries a secret."""

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure(level: str) -> None:
    logging.basicConfig(level=level, format=FORMAT)
    # The format shows no process or thread, so records need not look them up
    # (a getpid() per request line, measured in bench/).
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    # httpx logs every request's URL at INFO; WeChat's API takes its access
    # token in the query string.
    logging.getLogger("httpx").setLevel(logging.WARNING)
