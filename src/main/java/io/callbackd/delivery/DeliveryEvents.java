package io.callbackd.delivery;

import java.time.Duration;

/**
 * What the delivery engine reports as it works, for metrics. Owned here so that delivery depends on no metrics
 * library; {@code io.callbackd.metrics.DeliveryMetrics} implements it.
 */
public interface DeliveryEvents {

  /** An attempt ended; {@code first} with the time since the run's terminal update. */
  void attempted(AttemptResult result, boolean first, Duration sinceTerminalUpdate);

  /** A callback reached its final outcome: {@code delivered}, {@code gone} (410) or {@code failed}. */
  void finished(String outcome, Duration sinceTerminalUpdate);

  /** A dispatcher's claim came back with this many callbacks (0: it found nothing to take). */
  void claimed(int callbacks);

  /** Reports nothing (tools and tests that need no metrics). */
  DeliveryEvents NONE = new DeliveryEvents() {
    @Override
    public void claimed(int callbacks) {
    }

    @Override
    public void attempted(AttemptResult result, boolean first, Duration sinceTerminalUpdate) {
    }

    @Override
    public void finished(String outcome, Duration sinceTerminalUpdate) {
    }
  };
}
