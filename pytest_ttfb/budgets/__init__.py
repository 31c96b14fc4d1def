"""budgets: the markers, what they judge, and why a breach happened.

- ``kinds``: the registry of budget kinds (one entry per marker), and ``Budget``.
- ``parse``: a marker's arguments into a ``Budget``, or a ``BudgetError`` saying why not.
- ``judge``: verdicts on a test's requests.
- ``explain``: the failure text: waterfall per offending request, and hints.
"""
