package io.callbackd.api;

import io.vertx.core.json.JsonObject;
import io.vertx.json.schema.JsonSchemaValidationException;
import io.vertx.json.schema.OutputUnit;
import io.vertx.json.schema.Validator;
import io.vertx.openapi.contract.MediaType;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.validation.SchemaValidationException;
import io.vertx.openapi.validation.ValidationContext;

/**
 * Checks a JSON request body against its operation's schema in the contract, on the calling event loop.
 *
 * <p>The routes platforms call for every run (create, update) use this instead of the router's own validation,
 * which builds a new validator for each request (copying every schema of the contract) and runs it on a worker
 * thread: that cost more CPU than the rest of the request together. The validator here is built once, and the
 * refusal is the same {@link SchemaValidationException} the router raises, so errors keep their shape.
 *
 * <p>A body is checked once, on the body parsed once ({@link JsonRequestBody}): first by the schema's compiled
 * checks ({@link BodySchemaFastPath}), which only ever accept what the schema accepts; whatever they do not accept
 * is judged by the generic validator, which also words every refusal.
 */
final class ContractBodyValidator {

  private final Validator validator;
  private final BodySchemaFastPath fastPath;

  ContractBodyValidator(OpenAPIContract contract, String operationId) {
    MediaType json = contract.operation(operationId).getRequestBody().determineContentType("application/json");
    this.validator = contract.getSchemaRepository().validator(json.getSchema());
    JsonObject raw = contract.getRawContract();
    this.fastPath = BodySchemaFastPath.compile(requestSchema(raw, operationId), raw);
  }

  /** True when the operation's schema compiled to direct checks (it uses only the keywords they understand). */
  boolean compiled() {
    return fastPath != null;
  }

  /** Throws the contract's {@link SchemaValidationException} when {@code body} does not match the schema. */
  void check(Object body) {
    if (fastPath != null && fastPath.surelyValid(body)) {
      return;
    }
    OutputUnit result = validator.validate(body);
    try {
      result.checkValidity();
    } catch (JsonSchemaValidationException e) {
      throw SchemaValidationException.createInvalidValueBody(result, ValidationContext.REQUEST, e);
    }
  }

  /** The JSON request body schema of {@code operationId} as the contract's text has it (null when none). */
  private static JsonObject requestSchema(JsonObject contract, String operationId) {
    JsonObject paths = contract.getJsonObject("paths", new JsonObject());
    for (String path : paths.fieldNames()) {
      Object item = paths.getValue(path);
      if (!(item instanceof JsonObject)) {
        continue;
      }
      for (String method : ((JsonObject) item).fieldNames()) {
        Object op = ((JsonObject) item).getValue(method);
        if (op instanceof JsonObject && operationId.equals(((JsonObject) op).getValue("operationId"))) {
          Object schema = ((JsonObject) op).getValue("requestBody") instanceof JsonObject
            ? ((JsonObject) op).getJsonObject("requestBody").getValue("content") : null;
          schema = schema instanceof JsonObject ? ((JsonObject) schema).getValue("application/json") : null;
          schema = schema instanceof JsonObject ? ((JsonObject) schema).getValue("schema") : null;
          return schema instanceof JsonObject ? (JsonObject) schema : null;
        }
      }
    }
    return null;
  }
}
