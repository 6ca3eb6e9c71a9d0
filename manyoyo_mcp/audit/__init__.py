"""The audit log: every call leaves records a person can review afterwards.

log.py        the hash-chained JSON Lines log: append (locked, synced), read, verify
recorder.py   what each call writes, and when: arrival, decision, outcome (records are written here)
redaction.py  keeping secrets out of the records while commands stay readable
review.py     reading the log as a reviewer: calls with their records, sessions, filters, stats
report/       what the reviewer reads: one line per call, the summary, the terminal view, the HTML page
"""
