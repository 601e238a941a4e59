package io.callbackd.bench;

import java.util.Map;

/**
 * Entry point of the benchmark harness's Java side; {@code bench/run.sh} runs the commands in order.
 *
 * <ul>
 *   <li>{@code receiver}: the fast local receiver (204), with per-phase latency and duplicate counts;</li>
 *   <li>{@code suite}: load phases through callbackd's API or direct SQL, fixed rates or maximum;</li>
 *   <li>{@code pgref}: PostgreSQL's batched write rate (JDBC);</li>
 *   <li>{@code besteffort}: the best-effort dispatcher platforms use today;</li>
 *   <li>{@code apicost}: callbackd's CPU per API request (create, terminal update, whole run) at saturation;</li>
 *   <li>{@code backlog}: callbackd's RSS with a large backlog of pending callbacks, then its drain;</li>
 *   <li>{@code history}: the operators' reads and bulk redelivery with a large history, and its purge beside a
 *       drain;</li>
 *   <li>{@code jfr}: summary of a flight recording;</li>
 *   <li>{@code report}: the results table (Markdown) and JSON.</li>
 * </ul>
 */
public final class Bench {

  private Bench() {
  }

  public static void main(String[] argv) throws Exception {
    if (argv.length == 0) {
      System.err.println("usage: java -jar callbackd-bench.jar receiver|suite|pgref|besteffort|backlog|history|evbus|evbusref|apicost|jfr|report --key value ...");
      System.exit(2);
    }
    Map<String, String> args = Util.args(argv, 1);
    switch (argv[0]) {
      case "receiver" -> Receiver.main(args);
      case "suite" -> Driver.main(args);
      case "pgref" -> References.pgBatched(args);
      case "besteffort" -> References.bestEffort(args);
      case "backlog" -> Backlog.main(args);
      case "history" -> History.main(args);
      case "apicost" -> ApiCost.main(args);
      case "jfr" -> JfrSummary.main(args);
      case "evbus" -> EventBusProducer.main(args);
      case "evbusref" -> EventBusReference.main(args);
      case "report" -> Report.main(args);
      default -> {
        System.err.println("unknown command " + argv[0]);
        System.exit(2);
      }
    }
    System.exit(0);
  }
}
