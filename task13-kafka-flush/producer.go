package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// producer hands the service's messages to Kafka through kafka-go's
// asynchronous, batching Writer.
//
// TODO(task13): keep the books, so that every message accepted is, in the
// end, either delivered or counted as undelivered. A nil error from
// WriteMessages only means the message is queued in a batch; the writer
// reports each batch's fate later, to its Completion callback (err is nil
// when the brokers acknowledged it). Count delivered and failed messages
// there, atomically: the writer calls it from its own goroutines.
type producer struct {
	writer    *kafka.Writer
	transport *kafka.Transport
	logger    *slog.Logger

	accepted atomic.Int64 // taken by WriteMessages, the client told 202
}

// newProducer makes the producer. Nothing connects yet: the writer dials
// the brokers when the first batch goes out.
func newProducer(brokers []string, topic string, batchTimeout time.Duration, logger *slog.Logger) *producer {
	p := &producer{transport: &kafka.Transport{}, logger: logger}
	p.writer = &kafka.Writer{
		Addr:  kafka.TCP(brokers...),
		Topic: topic,
		// WriteMessages only puts the message in its partition's current
		// batch and returns. The batch goes out when it is full (BatchSize,
		// 100 messages) or BatchTimeout after its first message, whichever
		// comes first; until then the message exists only in this process.
		Async:        true,
		BatchTimeout: batchTimeout,
		// The writer's own transport rather than kafka.DefaultTransport:
		// its connections and goroutines are this program's to release.
		Transport: p.transport,
		// TODO(task13): set Completion to a method that counts the outcome
		// of each batch. And read what RequiredAcks means, and what its
		// default does to the outcome that Completion hears about.
	}
	return p
}

// publish hands one message to the writer. A nil error means the message
// is queued, not that Kafka has it.
func (p *producer) publish(ctx context.Context, value []byte) error {
	if err := p.writer.WriteMessages(ctx, kafka.Message{Value: value}); err != nil {
		return err
	}
	p.accepted.Add(1)
	return nil
}

// TODO(task13): write flush(ctx context.Context) error, the "kafka flush"
// phase, and add it to the lifecycle in main.go. Nothing sends the batches
// still waiting for their BatchTimeout when the process exits: they are
// lost, although every client got 202.
//
//   - Writer.Close sends the pending batches and waits for every write to
//     end, retries included. It takes no context, and with the brokers gone
//     it can block for minutes: run it in a goroutine and stop waiting when
//     ctx is done.
//   - Writer.Close returns nil whatever became of the batches. The counts
//     from Completion say what happened: log "kafka flushed" with the
//     delivered count when everything accepted was delivered; otherwise log
//     "kafka flush incomplete" with the undelivered count, and return an
//     error, so that the exit code is 1.
//   - Writer.Close does not release a transport you gave it:
//     p.transport.CloseIdleConnections() does.
