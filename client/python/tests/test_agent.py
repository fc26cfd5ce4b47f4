"""Server-free tests of treestore.integrations.agent: the ReAct loop and the message
adapters for OpenAI Chat Completions and Anthropic Messages (against recorded reply shapes;
no SDK or network involved)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

from treestore.integrations.agent import (AnthropicModel, OpenAIChatModel, Step, ToolCall, Turn,
                                          anthropic_messages, arun_react, openai_messages,
                                          parse_anthropic_content, parse_openai_message,
                                          run_react)
from treestore.integrations.reasoning import AsyncReasoningTools, ReasoningTools

from .test_tools import AsyncStub, StubClient


class TwoStepModel:
    """Reads the outline, then answers with the first section's title."""

    def next_turn(self, question, steps, tools):
        assert len(tools) == 10
        if not steps:
            return Turn([ToolCall("pi_search", {"doc_id": "fed", "depth": 1})], thought="look")
        title = json.loads(steps[-1].output)["tree"][0]["title"]
        return Turn(answer=f"{question} -> {title}")


def test_run_react_with_tools():
    run = run_react(TwoStepModel(), ReasoningTools(StubClient(), cache=False), "q")
    assert run.answer == "q -> Preface" and run.turns == 2 and run.thoughts == ["look"]
    assert run.steps[0].call.id == "call_1_0"


def test_run_react_stops_after_max_turns():
    class Looper:
        def next_turn(self, question, steps, tools):
            return Turn([ToolCall("list_documents", {})])
    run = run_react(Looper(), ReasoningTools(StubClient(), cache=False), "q", max_turns=3)
    assert run.answer is None and len(run.steps) == 3


def test_arun_react_with_async_tools():
    async def go():
        tools = AsyncReasoningTools(AsyncStub(), cache=False)
        return await arun_react(TwoStepModel(), tools, "q")
    assert asyncio.run(go()).answer == "q -> Preface"


STEPS = [Step(1, ToolCall("pi_search", {"doc_id": "fed"}, "call_a"), '{"tree": []}'),
         Step(1, ToolCall("get_node", '{"doc_id": "fed", "node_id": "1"}', "call_b"),
              "Error: get_node failed (NOT_FOUND): x"),
         Step(2, ToolCall("list_documents", {}, "call_c"), '{"documents": []}')]


def test_openai_messages_and_parsing():
    msgs = openai_messages("question?", STEPS, system="sys")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "tool",
                                         "assistant", "tool"]
    assert msgs[2]["tool_calls"][0] == {"id": "call_a", "type": "function", "function": {
        "name": "pi_search", "arguments": '{"doc_id": "fed"}'}}
    assert msgs[2]["tool_calls"][1]["function"]["arguments"] == \
        '{"doc_id": "fed", "node_id": "1"}'
    assert msgs[4] == {"role": "tool", "tool_call_id": "call_b",
                       "content": "Error: get_node failed (NOT_FOUND): x"}
    turn = parse_openai_message({"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_9", "type": "function",
         "function": {"name": "get_node", "arguments": '{"doc_id": "d", "node_id": "n"}'}}]})
    assert turn.tool_calls[0].name == "get_node" and turn.tool_calls[0].id == "call_9"
    assert turn.tool_calls[0].arguments_dict() == {"doc_id": "d", "node_id": "n"}
    assert parse_openai_message({"role": "assistant", "content": "done"}).answer == "done"


def test_anthropic_messages_and_parsing():
    msgs = anthropic_messages("question?", STEPS)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"][1] == {"type": "tool_use", "id": "call_b", "name": "get_node",
                                     "input": {"doc_id": "fed", "node_id": "1"}}
    assert msgs[2]["content"][1]["is_error"] is True
    assert msgs[2]["content"][0]["is_error"] is False
    turn = parse_anthropic_content([
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "pi_search", "input": {"doc_id": "d"}}])
    assert turn.thought == "Let me look." and turn.tool_calls[0].arguments == {"doc_id": "d"}
    assert parse_anthropic_content([{"type": "text", "text": "Answer."}]).answer == "Answer."


class Dumpable:
    """Like an SDK (pydantic) object: model_dump() gives the dict."""

    def __init__(self, data):
        self.data = data

    def model_dump(self):
        return self.data


def test_model_adapters_call_the_sdk_shape():
    sent = {}

    def create(**kwargs):
        sent.update(kwargs)
        return Dumpable({"choices": [{"message": {"role": "assistant", "content": "fine"}}]})

    sdk = SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=create)))
    tools = ReasoningTools(StubClient(), cache=False)
    turn = OpenAIChatModel(sdk, "model-x", temperature=0).next_turn(
        "q", STEPS, tools.definitions("openai"))
    assert turn.answer == "fine"
    assert sent["model"] == "model-x" and sent["temperature"] == 0
    assert all(t["function"]["strict"] for t in sent["tools"])
    assert sent["messages"][1] == {"role": "user", "content": "q"}

    def messages_create(**kwargs):
        sent.clear()
        sent.update(kwargs)
        return {"content": [Dumpable({"type": "tool_use", "id": "t1", "name": "get_node",
                                      "input": {"doc_id": "d", "node_id": "n"}})]}

    sdk = SimpleNamespace(messages=SimpleNamespace(create=messages_create))
    turn = AnthropicModel(sdk, "claude-x").next_turn("q", [], tools.definitions("anthropic"))
    assert turn.tool_calls[0].name == "get_node"
    assert sent["system"] and sent["max_tokens"] == 1024
    assert sent["tools"][0]["input_schema"]["type"] == "object"
