"""Data sovereignty: data classes and where they may go, PII redaction with restore, model pinning.

policy.py decides (class x backend labels -> allowed? redact?), recognisers.py and
redaction.py find and replace personal data, restore.py puts it back into answers,
stage.py applies all of it to a call, pinning.py picks model versions, explain.py reports
the data flow.
"""
