-- wrk script: POST a body shaped like callbackd's callback to the receiver (the raw HTTP reference).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = "msg_00000000000000000000000000000000"
wrk.headers["webhook-timestamp"] = "1795855756"
wrk.body = '{"run_id":"wrk-run-000001","status":"completed","completed_at":"2026-11-28T08:49:16.754095Z",'
  .. '"metadata":{"run_type":"bench","sent_at_us":1795855756000000},"agent_id":"agent-bench","stop_reason":"end_turn"}'
