"""The file tools' rule (write_file, read_file): how much one call may carry."""

from __future__ import annotations

from manyoyo_mcp.config.settings import ServerSettings
from manyoyo_mcp.policy import rule_ids
from manyoyo_mcp.policy.calls import Decision, ToolCall, deny


def content_size(content: str, encoding: str) -> int:
    """How many bytes write_file's `content` stands for, without decoding it (base64: from its length)."""
    if encoding == "base64":
        return len(content.rstrip("=")) * 3 // 4
    return len(content.encode("utf-8", errors="surrogatepass"))


def file_size(call: ToolCall, settings: ServerSettings) -> Decision | None:
    """write_file's content within the operator's ceiling (its decoded size, from its length), and a
    read_file page within the result cap."""
    content, limit = call.given("content"), call.given("limit")
    if isinstance(content, str):
        size = content_size(content, call.given("encoding") or "utf-8")
        if size > settings.max_write_file_bytes:
            return deny(
                rule_ids.FILE_SIZE_CEILING,
                f"content of {size} bytes is above the operator's ceiling of {settings.max_write_file_bytes} bytes "
                "(MANYOYO_MAX_WRITE_FILE_BYTES): write a smaller file, or make large ones in the sandbox with exec",
            )
    if isinstance(limit, int) and limit > settings.output_cap_bytes:
        return deny(
            rule_ids.FILE_SIZE_CEILING,
            f"limit {limit} is above the result cap of {settings.output_cap_bytes} bytes (MANYOYO_OUTPUT_CAP_BYTES): "
            "read in pages of up to that size, following next_offset",
        )
    return None
