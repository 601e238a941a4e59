package io.callbackd.metrics;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.JsonEncoder;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.OutputStreamAppender;
import ch.qos.logback.core.encoder.Encoder;
import org.slf4j.LoggerFactory;

/**
 * Switches the console log between readable lines ({@code plain}) and one JSON object per line ({@code json}, with
 * the structured fields of each event: run id, attempt, destination, outcome), using Logback's own encoders.
 */
public final class LogFormat {

  public static final String PLAIN_PATTERN = "%d{yyyy-MM-dd'T'HH:mm:ss.SSSX, UTC} %-5level [%thread] %logger{20} - %msg%n";

  private LogFormat() {
  }

  /** Applies {@code plain} or {@code json}; anything else (or null) leaves the format as it is. */
  public static void apply(String format) {
    if (!"plain".equals(format) && !"json".equals(format)) {
      return;
    }
    if (!(LoggerFactory.getILoggerFactory() instanceof LoggerContext)) {
      return;
    }
    LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    var appender = root.getAppender("STDOUT");
    if (!(appender instanceof OutputStreamAppender)) {
      return;
    }
    OutputStreamAppender<ILoggingEvent> out = (OutputStreamAppender<ILoggingEvent>) appender;
    Encoder<ILoggingEvent> encoder;
    if ("json".equals(format)) {
      JsonEncoder json = new JsonEncoder();
      json.setWithSequenceNumber(false);
      json.setWithNanoseconds(false);
      json.setWithContext(false);
      json.setWithFormattedMessage(true);
      json.setWithMessage(false);
      json.setWithArguments(false);
      encoder = json;
    } else {
      PatternLayoutEncoder plain = new PatternLayoutEncoder();
      plain.setPattern(PLAIN_PATTERN);
      encoder = plain;
    }
    encoder.setContext(context);
    encoder.start();
    out.stop();
    out.setEncoder(encoder);
    out.start();
  }
}
