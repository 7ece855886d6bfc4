"""Translation between API families (OpenAI chat, Anthropic Messages, OpenAI Responses).

Pure functions and small stateful stream transcoders; no I/O. OpenAI chat completions are
the gateway's canonical form: a front (Anthropic, Responses) translates its requests to chat
and chat answers back; an engine adapter (Anthropic) translates chat to its wire and back.
"""
