package io.callbackd.runs;

import io.callbackd.support.OwnRunsTable;
import io.callbackd.webhook.CallbackPayload;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.time.LocalDateTime;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The payload size check of a whole run (the event bus's way in) answers as encoding the payload would, around the
 * limit too: the bound only decides whether the payload needs encoding.
 */
class PayloadSizeCheckTest {

  private static final int LIMIT = 2_000;
  private static final LocalDateTime COMPLETED = LocalDateTime.of(2026, 12, 2, 3, 4, 5, 123_456_000);

  private static NewRun run(String note) {
    return new NewRun("run-size", "completed", "agent-size", null, "https://example.com/hook",
      new JsonObject().put("note", note), null, null, COMPLETED, "end_turn", null, null, null);
  }

  private static int encoded(NewRun r) {
    return CallbackPayload.body(r.id(), r.status(), r.completedAt(), r.metadata(), r.agentId(), r.stopReason())
      .length();
  }

  @Test
  void aroundTheLimitTheAnswerIsTheEncodedSizes() {
    RunStore store = new RunStore(null, LIMIT, OwnRunsTable.statements());
    int checked = 0;
    for (String unit : new String[] {"x", "é", "\"", "\u0001"}) {
      for (int n = 0; n < LIMIT; n++) {
        NewRun r = run(unit.repeat(n));
        int size = encoded(r);
        if (size < LIMIT - 40 || size > LIMIT + 40) {
          continue;
        }
        checked++;
        if (size <= LIMIT) {
          assertNull(store.payloadTooLarge(r), size + " bytes");
        } else {
          PayloadTooLargeException e = store.payloadTooLarge(r);
          assertNotNull(e, size + " bytes");
          assertTrue(e.getMessage().contains(size + " bytes"), e.getMessage());
        }
      }
    }
    assertTrue(checked > 40, "sizes around the limit: " + checked);
    // Small ones never need encoding, and are accepted.
    assertNull(store.payloadTooLarge(run("short")));
  }
}
