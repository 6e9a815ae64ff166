"""The gateway's connection limits, in a module light enough for the CLI's option defaults.

``conveyor serve --help`` shows them; importing :mod:`conveyor.serving.timeouts`, which
enforces them, would load asyncio for every ``conveyor`` command.
"""

READ_TIMEOUT_S = 10.0  # a request's head, and each wait for more of its body
KEEP_ALIVE_S = 5.0  # an idle kept-alive connection
LIMIT_CONCURRENCY = 1000  # connections at once; past it uvicorn answers 503
