import Foundation
import SluiceCore
import Testing

/// Outputs of real agents' successful runs (shapes and figures as the agents print them), and the
/// failure and streaming shapes their documentation describes.
enum AgentSamples {
    static let claude = #"""
        {"type":"result","subtype":"success","is_error":false,"duration_ms":48213,"duration_api_ms":51877,"num_turns":7,"result":"Fixed `divide()` in src/calc.py so a zero divisor raises `ValueError`, and updated the matching test. `python -m pytest -q` now passes (12 passed).","stop_reason":"end_turn","session_id":"3b1f6c2e-8d4a-4f0b-9a7e-2c5d9e41b7a3","total_cost_usd":0.18116135,"usage":{"input_tokens":31,"cache_creation_input_tokens":21877,"cache_read_input_tokens":187342,"output_tokens":2214,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"service_tier":"standard","cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":21877},"inference_geo":"global","iterations":[{"input_tokens":1,"output_tokens":164,"cache_read_input_tokens":33218,"cache_creation_input_tokens":612,"cache_creation":{"ephemeral_5m_input_tokens":612,"ephemeral_1h_input_tokens":0},"type":"message"}],"speed":"standard"},"modelUsage":{"claude-haiku-4-5-20251001":{"inputTokens":9412,"outputTokens":41,"cacheReadInputTokens":0,"cacheCreationInputTokens":0,"webSearchRequests":0,"costUSD":0.009617,"contextWindow":200000,"maxOutputTokens":32000},"claude-sonnet-4-6":{"inputTokens":31,"outputTokens":2214,"cacheReadInputTokens":187342,"cacheCreationInputTokens":21877,"webSearchRequests":0,"costUSD":0.17154435,"contextWindow":200000,"maxOutputTokens":32000}},"permission_denials":[],"terminal_reason":"completed","fast_mode_state":"off","uuid":"8f2d41c7-6a3e-4b9d-a1c0-5e7f92b4d613"}
        """#

    static let codex = #"""
        {"type":"thread.started","thread_id":"019a8e47-2c3d-7b10-9f4e-6a1d3c5b8e92"}
        {"type":"turn.started"}
        {"type":"item.completed","item":{"id":"item_0","type":"reasoning","text":"**Running the test suite to locate the failure**"}}
        {"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'python -m pytest -q'","aggregated_output":"","exit_code":null,"status":"in_progress"}}
        {"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'python -m pytest -q'","aggregated_output":"....F.......                                                             [100%]\n=================================== FAILURES ===================================\n_____________________________ test_divide_by_zero ______________________________\n\n    def test_divide_by_zero():\n>       with pytest.raises(ValueError):\nE       Failed: DID NOT RAISE <class 'ValueError'>\n\ntests/test_calc.py:24: Failed\n=========================== short test summary info ============================\nFAILED tests/test_calc.py::test_divide_by_zero - Failed: DID NOT RAISE <class 'ValueError'>\n1 failed, 11 passed in 0.05s\n","exit_code":1,"status":"failed"}}
        {"type":"error","message":"Reconnecting... 1/5 (stream disconnected before completion: error sending request for url (https://chatgpt.com/backend-api/codex/responses))"}
        {"type":"item.completed","item":{"id":"item_2","type":"reasoning","text":"**Making divide() reject a zero divisor**"}}
        {"type":"item.completed","item":{"id":"item_3","type":"file_change","changes":[{"path":"/home/ci/work/calc/src/calc.py","kind":"update"}],"status":"completed"}}
        {"type":"item.started","item":{"id":"item_4","type":"command_execution","command":"/bin/bash -lc 'python -m pytest -q'","aggregated_output":"","exit_code":null,"status":"in_progress"}}
        {"type":"item.completed","item":{"id":"item_4","type":"command_execution","command":"/bin/bash -lc 'python -m pytest -q'","aggregated_output":"............                                                             [100%]\n12 passed in 0.03s\n","exit_code":0,"status":"completed"}}
        {"type":"item.completed","item":{"id":"item_5","type":"agent_message","text":"`divide()` in `src/calc.py` now raises `ValueError(\"division by zero\")` when `b == 0`. `python -m pytest -q` passes (12 passed)."}}
        {"type":"turn.completed","usage":{"input_tokens":48211,"cached_input_tokens":41984,"output_tokens":1893}}
        """#

    static let aider = #"""
        Aider v0.86.2
        Main model: anthropic/claude-sonnet-4-20250514 with diff edit format, prompt 
        cache, infinite output
        Weak model: anthropic/claude-3-5-haiku-20241022
        Git repo: .git with 14 files
        Repo-map: using 4096 tokens, files refresh
        Added src/calc.py to the chat.
        Added tests/test_calc.py to the chat.
        Cost estimates may be inaccurate when using streaming and caching.

        I'll make `divide()` raise a `ValueError` when the divisor is zero.

        src/calc.py
        ```python
        <<<<<<< SEARCH
        def divide(a, b):
            return a / b
        =======
        def divide(a, b):
            if b == 0:
                raise ValueError("division by zero")
            return a / b
        >>>>>>> REPLACE
        ```

        Tokens: 5.2k sent, 3.1k cache write, 154 received. Cost: $0.02 message, $0.02 
        session.
        Applied edit to src/calc.py
        Commit 4e1b9a2 fix: Raise ValueError on division by zero in divide()
        .........F..                                                             [100%]
        =================================== FAILURES ===================================
        _____________________________ test_divide_by_zero ______________________________

            def test_divide_by_zero():
                with pytest.raises(ZeroDivisionError):
        >           divide(1, 0)

        tests/test_calc.py:25: 
        _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ 

        a = 1, b = 0

            def divide(a, b):
                if b == 0:
        >           raise ValueError("division by zero")
        E           ValueError: division by zero

        src/calc.py:17: ValueError
        =========================== short test summary info ============================
        FAILED tests/test_calc.py::test_divide_by_zero - ValueError: division by zero
        1 failed, 11 passed in 0.04s
        Added 22 lines of output to the chat.
        The existing test still expects `ZeroDivisionError`. I'll update it to expect the new `ValueError`.

        tests/test_calc.py
        ```python
        <<<<<<< SEARCH
        def test_divide_by_zero():
            with pytest.raises(ZeroDivisionError):
                divide(1, 0)
        =======
        def test_divide_by_zero():
            with pytest.raises(ValueError):
                divide(1, 0)
        >>>>>>> REPLACE
        ```

        Tokens: 6.0k sent, 1.2k cache write, 3.1k cache hit, 137 received.
        Cost: $0.02 message, $0.04 session.
        Applied edit to tests/test_calc.py
        Commit 9c07d3f test: Expect ValueError when dividing by zero
        ............                                                             [100%]
        12 passed in 0.03s
        """#

    static let gemini = #"""
        {
          "session_id": "6f1c2d7e-9a84-4b3e-8c51-0d7f2e9a4b36",
          "response": "Updated `divide()` in src/calc.py to raise `ValueError` when the divisor is zero. `python -m pytest -q` now reports 12 passed.",
          "stats": {
            "models": {
              "gemini-2.5-pro": {
                "api": {
                  "totalRequests": 4,
                  "totalErrors": 0,
                  "totalLatencyMs": 21877,
                  "errorsByType": {}
                },
                "tokens": {
                  "input": 9112,
                  "prompt": 52374,
                  "candidates": 1216,
                  "total": 54987,
                  "cached": 43262,
                  "thoughts": 1397,
                  "tool": 0
                },
                "roles": {
                  "main": {
                    "totalRequests": 4,
                    "totalErrors": 0,
                    "totalLatencyMs": 21877,
                    "tokens": {
                      "input": 9112,
                      "prompt": 52374,
                      "candidates": 1216,
                      "total": 54987,
                      "cached": 43262,
                      "thoughts": 1397,
                      "tool": 0
                    }
                  }
                }
              },
              "gemini-2.5-flash-lite": {
                "api": {
                  "totalRequests": 1,
                  "totalErrors": 0,
                  "totalLatencyMs": 612,
                  "errorsByType": {}
                },
                "tokens": {
                  "input": 1873,
                  "prompt": 1873,
                  "candidates": 24,
                  "total": 1897,
                  "cached": 0,
                  "thoughts": 0,
                  "tool": 0
                },
                "roles": {
                  "utility_router": {
                    "totalRequests": 1,
                    "totalErrors": 0,
                    "totalLatencyMs": 612,
                    "tokens": {
                      "input": 1873,
                      "prompt": 1873,
                      "candidates": 24,
                      "total": 1897,
                      "cached": 0,
                      "thoughts": 0,
                      "tool": 0
                    }
                  }
                }
              }
            },
            "tools": {
              "totalCalls": 3,
              "totalSuccess": 3,
              "totalFail": 0,
              "totalDurationMs": 2318,
              "totalDecisions": {
                "accept": 0,
                "reject": 0,
                "modify": 0,
                "auto_accept": 3
              },
              "byName": {
                "run_shell_command": {
                  "count": 2,
                  "success": 2,
                  "fail": 0,
                  "durationMs": 2264,
                  "decisions": {
                    "accept": 0,
                    "reject": 0,
                    "modify": 0,
                    "auto_accept": 2
                  }
                },
                "replace": {
                  "count": 1,
                  "success": 1,
                  "fail": 0,
                  "durationMs": 54,
                  "decisions": {
                    "accept": 0,
                    "reject": 0,
                    "modify": 0,
                    "auto_accept": 1
                  }
                }
              }
            },
            "files": {
              "totalLinesAdded": 2,
              "totalLinesRemoved": 0
            }
          }
        }
        """#
}
