"""measure: what happens to one request on its way through an instrumented client.

- ``record``: ``RequestTiming``, the record every report is built from.
- ``recorder``: ``Recorder``, one test's records (the ``ttfb`` fixture).
- ``active``: which recorder the transports record into right now.
- ``inflight``: the marks of a request in flight, turned into a record when read.
- ``scanner``: a stream of server-sent events as it arrives: its shape (Anthropic, Chat
  Completions, Responses, plain), chunk times, output tokens, first token by rule.
- ``calls``: an SDK call's attempts grouped (by the retry-count header).
- ``network``: where new connections go (the real network, or the emulated one).
- ``_async`` (source) and ``_sync`` (generated from it by ``.ci/unasync.py``): the
  transport, network backend, network stream and byte stream wrappers.
- ``stacks``: those wrappers bound to httpx/httpcore and httpx2/httpcore2; ``instrument``.
- ``loop_guard``: a session-scoped async client kept on its first event loop.
"""
