package io.callbackd.api;

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
 */
final class ContractBodyValidator {

  private final Validator validator;

  ContractBodyValidator(OpenAPIContract contract, String operationId) {
    MediaType json = contract.operation(operationId).getRequestBody().determineContentType("application/json");
    this.validator = contract.getSchemaRepository().validator(json.getSchema());
  }

  /** Throws the contract's {@link SchemaValidationException} when {@code body} does not match the schema. */
  void check(Object body) {
    OutputUnit result = validator.validate(body);
    try {
      result.checkValidity();
    } catch (JsonSchemaValidationException e) {
      throw SchemaValidationException.createInvalidValueBody(result, ValidationContext.REQUEST, e);
    }
  }
}
