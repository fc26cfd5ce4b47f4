"""Integrations of TreeStore with the services that use it.

* :mod:`treestore.integrations.reasoning`: the ten tools of an LLM reasoning service, cached
  through the server's tool-result cache, for blocking and asyncio clients.
* :mod:`treestore.integrations.agent`: a ReAct loop over those tools, with adapters for the
  OpenAI and Anthropic message formats.
"""
