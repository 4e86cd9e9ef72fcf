#!/usr/bin/env python3
"""Drive `praxis serve` with the official MCP Python SDK (a real MCP client).

Usage: mcp_client.py PRAXIS_BINARY [--demo]

Spawns the binary over stdio exactly as Claude Desktop would, initializes, lists the tools,
calls them (a read, a refused unknown tool, invalid arguments, audit verification) and prints
one JSON summary line on stdout. With --demo it narrates each step on stderr for people.
The state directory comes from PRAXIS_STATE_DIR in the environment.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def narrate(enabled, text):
    if enabled:
        print(text, file=sys.stderr, flush=True)


def field(item, snake, camel):
    """Reads a field under the SDK's snake_case name (v2) or camelCase name (v1)."""
    return getattr(item, snake) if hasattr(item, snake) else getattr(item, camel)


def structured(result):
    value = field(result, "structured_content", "structuredContent")
    return value if value is not None else {}


def is_error(result):
    return bool(field(result, "is_error", "isError"))


async def main(binary, demo):
    environment = {key: value for key, value in os.environ.items() if key.startswith("PRAXIS_")}
    environment["PATH"] = os.environ.get("PATH", "")
    environment.setdefault("PRAXIS_LOG", "warn")
    params = StdioServerParameters(command=binary, args=["serve"], env=environment)
    summary = {}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            server_info = field(init, "server_info", "serverInfo")
            protocol_version = str(field(init, "protocol_version", "protocolVersion"))
            summary["protocol_version"] = protocol_version
            summary["server_name"] = server_info.name
            summary["has_instructions"] = bool(init.instructions)
            narrate(demo, f"initialize: {server_info.name} {server_info.version}, protocol {protocol_version}")

            await session.send_ping()
            summary["ping"] = True

            tools = await session.list_tools()
            summary["tools"] = sorted(tool.name for tool in tools.tools)
            prompts = await session.list_prompts()
            summary["prompts"] = sorted(prompt.name for prompt in prompts.prompts)
            triage = await session.get_prompt("drift_triage", {"subject": "host:web-1"})
            summary["drift_triage_names_drift_scan"] = "drift_scan" in triage.messages[0].content.text
            summary["all_have_output_schema"] = all(field(tool, "output_schema", "outputSchema") for tool in tools.tools)
            narrate(demo, "tools/list: " + ", ".join(summary["tools"]))

            status = await session.call_tool("server_status", {})
            summary["status_is_error"] = is_error(status)
            summary["status_mode"] = structured(status).get("mode")
            narrate(demo, f"server_status -> mode {summary['status_mode']}, kill switch engaged: {structured(status).get('kill_switch', {}).get('engaged')}")

            unknown = await session.call_tool("delete_everything", {"host": "db-1"})
            summary["unknown_is_error"] = is_error(unknown)
            summary["unknown_code"] = structured(unknown).get("error", {}).get("code")
            narrate(demo, f"delete_everything -> refused: {summary['unknown_code']}")

            invalid = await session.call_tool("emergency_stop", {"reason": 42})
            summary["invalid_code"] = structured(invalid).get("error", {}).get("code")
            narrate(demo, f"emergency_stop with a number for reason -> refused: {summary['invalid_code']}")

            verify = await session.call_tool("audit_verify", {})
            summary["verify_ok"] = structured(verify).get("ok")
            summary["verify_count"] = structured(verify).get("count")
            narrate(demo, f"audit_verify -> ok={summary['verify_ok']}, {summary['verify_count']} records")
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1], "--demo" in sys.argv[2:]))
