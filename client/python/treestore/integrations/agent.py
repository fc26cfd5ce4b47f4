"""A ReAct loop over the reasoning tools, and the adapters that plug a real LLM into it.

The loop asks a :class:`Model` for its next :class:`Turn` (tool calls, or a final answer),
runs the calls through :class:`~treestore.integrations.reasoning.ReasoningTools` and hands
the outputs back, until the model answers or ``max_turns`` is reached::

    tools = ReasoningTools(ts)
    run = run_react(model, tools, "What did Regulation Best Interest require as of 2020-06-30?")
    print(run.answer)

A model is anything with ``next_turn(question, steps, tools) -> Turn``. Deterministic
scripted models do for tests; for a real LLM wrap its SDK client::

    model = OpenAIChatModel(openai.OpenAI(), "gpt-4o")          # Chat Completions
    model = AnthropicModel(anthropic.Anthropic(), "claude-sonnet-4-5")  # Messages API

The adapters build the provider's messages from the transcript (:func:`openai_messages`,
:func:`anthropic_messages`) and read its reply (:func:`parse_openai_message`,
:func:`parse_anthropic_content`); neither SDK is a dependency of this package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, Sequence

__all__ = ["ToolCall", "Turn", "Step", "AgentRun", "Model", "AsyncModel", "run_react",
           "arun_react", "openai_messages", "parse_openai_message", "anthropic_messages",
           "parse_anthropic_content", "OpenAIChatModel", "AnthropicModel", "SYSTEM_PROMPT"]

SYSTEM_PROMPT = (
    "You answer questions about stored documents (policies, regulations, reports) by calling "
    "tools. Find the document (list_documents, search_nodes), navigate its table of contents "
    "(pi_search), read sections (get_node), and for questions about a date use "
    "temporal_lookup. Cite the document, section and version you used.")


@dataclass
class ToolCall:
    """One tool call of the model; ``arguments`` as the model sent them (object or text)."""

    name: str
    arguments: Any
    id: str = ""

    def arguments_dict(self) -> dict[str, Any]:
        if isinstance(self.arguments, str):
            try:
                value = json.loads(self.arguments or "{}")
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
        return dict(self.arguments or {})


@dataclass
class Turn:
    """What the model does next: call tools, or answer (``answer`` set, no calls)."""

    tool_calls: list[ToolCall] = field(default_factory=list)
    answer: Optional[str] = None
    thought: str = ""


@dataclass
class Step:
    """A tool call the loop ran and the output the model got back."""

    turn: int
    call: ToolCall
    output: str


@dataclass
class AgentRun:
    """The outcome of :func:`run_react`: the answer (None when ``max_turns`` ran out)."""

    question: str
    answer: Optional[str]
    steps: list[Step]
    turns: int
    thoughts: list[str] = field(default_factory=list)


class Model(Protocol):
    def next_turn(self, question: str, steps: Sequence[Step],
                  tools: list[dict[str, Any]]) -> Turn: ...


class AsyncModel(Protocol):
    async def next_turn(self, question: str, steps: Sequence[Step],
                        tools: list[dict[str, Any]]) -> Turn: ...


def run_react(model: Model, tools: Any, question: str, *, max_turns: int = 12,
              style: str = "openai") -> AgentRun:
    """Run the loop with a blocking model and :class:`ReasoningTools`."""
    defs = tools.definitions(style)
    steps: list[Step] = []
    thoughts: list[str] = []
    for turn in range(1, max_turns + 1):
        t = model.next_turn(question, steps, defs)
        if t.thought:
            thoughts.append(t.thought)
        if not t.tool_calls:
            return AgentRun(question, t.answer or "", steps, turn, thoughts)
        for i, call in enumerate(t.tool_calls):
            call.id = call.id or f"call_{turn}_{i}"
            steps.append(Step(turn, call, tools.call(call.name, call.arguments)))
    return AgentRun(question, None, steps, max_turns, thoughts)


async def arun_react(model: Any, tools: Any, question: str, *, max_turns: int = 12,
                     style: str = "openai") -> AgentRun:
    """Run the loop with :class:`AsyncReasoningTools`; ``model.next_turn`` may be a plain
    function or a coroutine. Calls of one turn run concurrently."""
    import asyncio
    import inspect

    defs = tools.definitions(style)
    steps: list[Step] = []
    thoughts: list[str] = []
    for turn in range(1, max_turns + 1):
        t = model.next_turn(question, steps, defs)
        if inspect.isawaitable(t):
            t = await t
        if t.thought:
            thoughts.append(t.thought)
        if not t.tool_calls:
            return AgentRun(question, t.answer or "", steps, turn, thoughts)
        for i, call in enumerate(t.tool_calls):
            call.id = call.id or f"call_{turn}_{i}"
        outputs = await asyncio.gather(*(tools.call(c.name, c.arguments) for c in t.tool_calls))
        steps.extend(Step(turn, c, out) for c, out in zip(t.tool_calls, outputs))
    return AgentRun(question, None, steps, max_turns, thoughts)


def _turns(steps: Sequence[Step]) -> list[list[Step]]:
    grouped: list[list[Step]] = []
    for s in steps:
        if grouped and grouped[-1][0].turn == s.turn:
            grouped[-1].append(s)
        else:
            grouped.append([s])
    return grouped


def _as_dict(obj: Any) -> Any:
    """SDK objects (pydantic models) as plain dicts; dicts and lists unchanged."""
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return obj


# ---------------------------------------------------------------------------------------
# OpenAI Chat Completions
# ---------------------------------------------------------------------------------------

def openai_messages(question: str, steps: Sequence[Step],
                    system: str = SYSTEM_PROMPT) -> list[dict[str, Any]]:
    """Chat Completions ``messages`` for the transcript so far."""
    msgs: list[dict[str, Any]] = [{"role": "system", "content": system},
                                  {"role": "user", "content": question}]
    for group in _turns(steps):
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": s.call.id, "type": "function",
             "function": {"name": s.call.name,
                          "arguments": s.call.arguments if isinstance(s.call.arguments, str)
                          else json.dumps(s.call.arguments)}} for s in group]})
        msgs.extend({"role": "tool", "tool_call_id": s.call.id, "content": s.output}
                    for s in group)
    return msgs


def parse_openai_message(message: Any) -> Turn:
    """A Turn from a Chat Completions assistant message (``choices[0].message``)."""
    m = _as_dict(message)
    calls = [ToolCall(c["function"]["name"], c["function"].get("arguments") or "{}",
                      c.get("id", "")) for c in (m.get("tool_calls") or [])]
    content = m.get("content") or ""
    if calls:
        return Turn(tool_calls=calls, thought=content)
    return Turn(answer=content)


class OpenAIChatModel:
    """A :class:`Model` backed by an OpenAI-compatible Chat Completions client
    (``openai.OpenAI()`` or any object with ``chat.completions.create``)."""

    def __init__(self, client: Any, model: str, *, system: str = SYSTEM_PROMPT,
                 **create_kwargs: Any) -> None:
        self.client, self.model, self.system = client, model, system
        self.create_kwargs = create_kwargs

    def next_turn(self, question: str, steps: Sequence[Step],
                  tools: list[dict[str, Any]]) -> Turn:
        resp = self.client.chat.completions.create(
            model=self.model, messages=openai_messages(question, steps, self.system),
            tools=tools, **self.create_kwargs)
        choices = _as_dict(resp)["choices"]
        return parse_openai_message(choices[0]["message"])


# ---------------------------------------------------------------------------------------
# Anthropic Messages
# ---------------------------------------------------------------------------------------

def anthropic_messages(question: str, steps: Sequence[Step]) -> list[dict[str, Any]]:
    """Messages API ``messages`` for the transcript so far (the system prompt is a separate
    argument there)."""
    msgs: list[dict[str, Any]] = [{"role": "user", "content": question}]
    for group in _turns(steps):
        msgs.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": s.call.id, "name": s.call.name,
             "input": s.call.arguments_dict()} for s in group]})
        msgs.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": s.call.id, "content": s.output,
             "is_error": s.output.startswith("Error: ")} for s in group]})
    return msgs


def parse_anthropic_content(content: Sequence[Any]) -> Turn:
    """A Turn from the ``content`` blocks of a Messages API reply."""
    blocks = [_as_dict(b) for b in content]
    calls = [ToolCall(b["name"], b.get("input") or {}, b.get("id", ""))
             for b in blocks if b.get("type") == "tool_use"]
    text = "\n".join(b.get("text", "") for b in blocks if b.get("type") == "text").strip()
    if calls:
        return Turn(tool_calls=calls, thought=text)
    return Turn(answer=text)


class AnthropicModel:
    """A :class:`Model` backed by an Anthropic Messages client (``anthropic.Anthropic()``
    or any object with ``messages.create``); pass ``style="anthropic"`` to run_react."""

    def __init__(self, client: Any, model: str, *, system: str = SYSTEM_PROMPT,
                 max_tokens: int = 1024, **create_kwargs: Any) -> None:
        self.client, self.model, self.system = client, model, system
        self.max_tokens = max_tokens
        self.create_kwargs = create_kwargs

    def next_turn(self, question: str, steps: Sequence[Step],
                  tools: list[dict[str, Any]]) -> Turn:
        resp = self.client.messages.create(
            model=self.model, max_tokens=self.max_tokens, system=self.system, tools=tools,
            messages=anthropic_messages(question, steps), **self.create_kwargs)
        return parse_anthropic_content(_as_dict(resp)["content"])
