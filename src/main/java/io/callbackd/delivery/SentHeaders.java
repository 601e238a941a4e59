package io.callbackd.delivery;

import io.callbackd.webhook.CallbackSigner;
import io.callbackd.webhook.CallbackTarget;
import io.vertx.core.MultiMap;
import io.vertx.core.json.JsonObject;

import java.util.Map;

/**
 * The headers of one attempt's request as an operator reads them in its history: what the receiver got, in the
 * order it got them, with the signature left out (it is a credential of the moment, and the id, timestamp and body
 * beside it are what it signs).
 */
final class SentHeaders {

  private SentHeaders() {
  }

  static String json(CallbackTarget target, MultiMap headers, int bodyLength) {
    JsonObject out = new JsonObject();
    out.put("host", target.hostHeader());
    out.put("user-agent", CallbackSender.USER_AGENT);
    out.put("content-type", "application/json");
    out.put("content-length", String.valueOf(bodyLength));
    for (Map.Entry<String, String> h : headers) {
      String name = h.getKey().toLowerCase();
      if (!name.equals(CallbackSigner.HEADER_SIGNATURE) && !out.containsKey(name)) {
        out.put(name, h.getValue());
      }
    }
    return out.encode();
  }
}
