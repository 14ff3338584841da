#!/usr/bin/env bash
# Apache Kafka, KRaft single node (broker + controller) on 127.0.0.1:$KAFKA_PORT. The broker jars come
# from Maven Central (kafka/pom.xml + `mvn dependency:copy-dependencies`), cached in .infra/cache/kafka.
# Usage: kafka.sh fetch|up|down
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LIBS="$CACHE_DIR/kafka/libs"
STAMP="$CACHE_DIR/kafka/pom.sha256"
KDATA="$DATA_DIR_INFRA/kafka"
PROPS="$RUN_DIR/kafka-server.properties"

fetch() {
  local want; want="$(sha256sum "$HERE/kafka/pom.xml" | cut -d' ' -f1)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && ls "$LIBS"/kafka_2.13-*.jar >/dev/null 2>&1; then return; fi
  command -v java >/dev/null || apt_install default-jre-headless
  command -v mvn >/dev/null || apt_install maven
  exec 8>"$CACHE_DIR/kafka-fetch.lock"
  flock 8
  log "kafka: fetching broker jars from Maven Central (first run only)"
  local t0=$SECONDS
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  mvn -q -B -f "$HERE/kafka/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS" \
    >"$LOG_DIR/kafka-fetch.log" 2>&1 || die "fetching Kafka jars failed (see $LOG_DIR/kafka-fetch.log)"
  echo "$want" >"$STAMP"
  log "kafka: jars fetched in $((SECONDS - t0))s"
}

# Capped heap: these are 2-core, shared machines.
JAVA_OPTS=(-Xms128m -Xmx512m -XX:+UseSerialGC -Djava.awt.headless=true
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.showDateTime=true
  -Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info)
java_cmd() { java "${JAVA_OPTS[@]}" -cp "$LIBS/*" "$@"; }

write_props() {
  cat >"$PROPS" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KDATA
num.partitions=6
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests join groups constantly: no initial rebalance delay, and short sessions allowed (crash tests).
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=2000
auto.create.topics.enable=true
log.retention.hours=24
log.segment.bytes=16777216
PROPS
}

up() {
  if running_pid kafka >/dev/null; then log "kafka: already running (started earlier by infra/local)"; return; fi
  if port_open "$KAFKA_PORT"; then log "kafka: port $KAFKA_PORT already in use, assuming a Kafka we may use"; return; fi
  fetch
  write_props
  if [[ ! -f "$KDATA/meta.properties" ]]; then
    log "kafka: formatting the KRaft log dir"
    rm -rf "$KDATA"; mkdir -p "$KDATA"
    local cluster_id
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>>"$LOG_DIR/kafka-format.log" | tail -1)"
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" >>"$LOG_DIR/kafka-format.log" 2>&1 \
      || die "formatting Kafka storage failed (see $LOG_DIR/kafka-format.log)"
  fi
  wait_port_unused kafka "$KAFKA_PORT"
  wait_port_unused kafka "$KAFKA_CONTROLLER_PORT"
  log "kafka: starting on 127.0.0.1:$KAFKA_PORT"
  nohup java "${JAVA_OPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$PROPS" >"$LOG_DIR/kafka.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$(pidfile kafka)"
  mark_started kafka
  # Not only a timeout: a broker that exits during startup is reported at once, with its reason.
  local deadline=$((SECONDS + 120))
  until port_open "$KAFKA_PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      die "kafka exited during startup: $(grep -m1 -oE 'Caused by: [^:]+: .*' "$LOG_DIR/kafka.log" | tail -1) (see $LOG_DIR/kafka.log)"
    fi
    ((SECONDS < deadline)) || die "kafka not answering on $KAFKA_PORT (see $LOG_DIR/kafka.log)"
    sleep 0.3
  done
  log "kafka is ready"
}

down() { stop_pid kafka 30; }

case "${1:-up}" in
  fetch) fetch ;;
  up) up ;;
  down) down ;;
  *) die "usage: $0 fetch|up|down" ;;
esac
