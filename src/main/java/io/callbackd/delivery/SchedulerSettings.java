package io.callbackd.delivery;

import java.time.Duration;

/**
 * What the scheduler is configured with, as plain values: the poll interval (its longest wait), the lease (lost
 * claims are looked for every quarter of it), how long an idle destination is kept, the request timeout (an attempt
 * may start until one after a callback's expiry) and the schedule's number of attempts.
 */
public record SchedulerSettings(Duration pollInterval, Duration lease, Duration breakerIdleEviction,
                                Duration requestTimeout, int maxAttempts) {
}
