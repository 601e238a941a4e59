# callbackd container image.
#
#   docker build -t callbackd .
#   docker run -p 8080:8080 -e CALLBACKD_PG_URL=postgresql://user:pass@host:5432/db callbackd
#
# Stage 1 builds the shaded jar with the README's build command; stage 2 runs it on a JRE with the README's run
# command, as an unprivileged user. Without CALLBACKD_PG_URL, callbackd starts its embedded PostgreSQL in /app/data
# (mount a volume there to keep it); on Kubernetes (k8s/) it always uses an external PostgreSQL. Started as root
# (`docker run --user 0`), callbackd runs the embedded PostgreSQL in a user namespace, or where the runtime forbids
# one (Docker's default seccomp profile does), as the image's callbackd account (CALLBACKD_EMBEDDED_PG_USER).

FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /build
COPY pom.xml ./
COPY conf ./conf
COPY src ./src
# The cache mount keeps downloaded dependencies between builds (BuildKit, the default builder of current Docker).
RUN --mount=type=cache,target=/root/.m2 mvn -B package -DskipTests

FROM eclipse-temurin:17-jre
# A fixed numeric UID/GID, so that Kubernetes' runAsNonRoot can check it without a passwd lookup.
RUN groupadd --system --gid 10001 callbackd \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin callbackd
WORKDIR /app
# conf/config.json is packaged inside the jar, so the jar is all the image needs.
COPY --from=build /build/target/callbackd.jar /app/callbackd.jar
# The data directory (CALLBACKD_DATA_DIR) is the only place callbackd writes to besides /tmp.
RUN mkdir -p /app/data && chown 10001:10001 /app/data
# JVM flags go through JAVA_TOOL_OPTIONS so that the command stays the README's `java -jar`: size the heap from the
# container's memory limit, and exit (and get restarted) rather than limp on after an OutOfMemoryError.
ENV JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=75 -XX:+ExitOnOutOfMemoryError" \
    CALLBACKD_DATA_DIR=/app/data \
    CALLBACKD_EMBEDDED_PG_USER=callbackd
USER 10001:10001
# 8080: HTTP API, health and metrics; 5701: Hazelcast; 5710: clustered event bus (cluster mode only).
EXPOSE 8080 5701 5710
ENTRYPOINT ["java", "-jar", "/app/callbackd.jar"]
