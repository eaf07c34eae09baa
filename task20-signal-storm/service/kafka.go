package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"gracefulshutdown.lab/task20-signal-storm/config"
	"gracefulshutdown.lab/task20-signal-storm/lifecycle"
)

// embeddedPartitions is how many partitions the embedded cluster gives the
// topic: more than one, as on a real cluster, so a message's batch depends
// on the partition the writer picks for it.
const embeddedPartitions = 3

// connectKafka finds the cluster and checks that the topic is there, within
// timeout; Ctrl+C (ctx) ends the wait too. It returns the brokers to produce
// to: the ones KAFKA_BROKERS lists (host:port, separated by commas), or,
// without it, those of an in-process kfake cluster, started here with the
// topic already created, so that a machine with nothing installed can run
// the service. The embedded cluster joins the lifecycle as a phase of its
// own. It starts first, so it stops last, after the producer has flushed
// into it.
func connectKafka(ctx context.Context, topic string, timeout time.Duration, lc *lifecycle.Lifecycle, logger *slog.Logger) ([]string, error) {
	var brokers []string
	if list := os.Getenv("KAFKA_BROKERS"); list != "" {
		for b := range strings.SplitSeq(list, ",") {
			if b = strings.TrimSpace(b); b != "" {
				brokers = append(brokers, b)
			}
		}
	} else {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(embeddedPartitions, topic))
		if err != nil {
			return nil, fmt.Errorf("start the embedded cluster: %w", err)
		}
		lc.Add("kafka cluster", func(context.Context) error {
			cluster.Close()
			return nil
		}, lifecycle.Timeout(config.CloseTimeout))
		brokers = cluster.ListenAddrs()
		logger.Info("kafka started", "brokers", strings.Join(brokers, ","))
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	partitions, err := checkTopic(ctx, brokers, topic)
	if err != nil {
		return nil, fmt.Errorf("brokers %s: %w", strings.Join(brokers, ","), err)
	}
	logger.Info("kafka ready", "brokers", strings.Join(brokers, ","), "topic", topic, "partitions", partitions)
	return brokers, nil
}

// checkTopic asks the cluster for the topic's partitions and returns how
// many it has. An unreachable cluster or a missing topic is a start-up
// error: found now, it is one clear line in the log, where the first POST
// would otherwise be the one to find out. The producer does not create the
// topic: creation is asynchronous in Kafka, and the first writes to a topic
// being created fail (segmentio/kafka-go#683).
func checkTopic(ctx context.Context, brokers []string, topic string) (int, error) {
	// A transport of its own, released here: the producer has its own.
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, err
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return 0, fmt.Errorf("topic %q: %w", topic, t.Error)
		}
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("topic %q: %w", topic, kafka.UnknownTopicOrPartition)
}
