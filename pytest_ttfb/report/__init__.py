"""report: what a run recorded, as the terminal table, JSON, JUnit, HAR and HTML."""
