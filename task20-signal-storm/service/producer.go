package service

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// producer hands the service's messages to Kafka through kafka-go's
// asynchronous, batching Writer, and keeps the books: every message it
// accepts is, in the end, either delivered or counted as undelivered.
type producer struct {
	writer    *kafka.Writer
	transport *kafka.Transport
	logger    *slog.Logger

	accepted  atomic.Int64 // taken by WriteMessages, the client told 202
	delivered atomic.Int64 // acknowledged by the brokers
	failed    atomic.Int64 // given up on by the writer
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
		// Delivered means acknowledged. kafka-go's default, RequireNone,
		// calls a batch done as soon as it is written to the socket,
		// without waiting for any broker to answer, so a batch the broker
		// refuses would be counted as delivered.
		RequiredAcks: kafka.RequireAll,
		// The writer's own transport rather than kafka.DefaultTransport:
		// its connections and goroutines are this program's to release.
		Transport: p.transport,
		// In async mode the writer reports each batch's fate here, and
		// nowhere else.
		Completion: p.completed,
	}
	return p
}

// completed is the writer's Completion callback: it runs once for each
// batch, when the brokers have acknowledged it (err == nil) or the writer
// has given up on it, after its retries.
func (p *producer) completed(messages []kafka.Message, err error) {
	if err != nil {
		p.failed.Add(int64(len(messages)))
		p.logger.Error("delivery failed", "messages", len(messages), "err", err)
		return
	}
	p.delivered.Add(int64(len(messages)))
}

// publish hands one message to the writer. A nil error means the message
// is queued, not that Kafka has it: Completion says that later.
func (p *producer) publish(ctx context.Context, value []byte) error {
	if err := p.writer.WriteMessages(ctx, kafka.Message{Value: value}); err != nil {
		return err
	}
	p.accepted.Add(1)
	return nil
}

// flush is the "kafka flush" phase. It runs after the HTTP server has
// drained, so no request can hand the writer another message.
//
// Writer.Close sends every batch still waiting for its BatchTimeout, waits
// until each write has been acknowledged or given up on (retries
// included), then returns; by then every Completion call has run. It takes
// no context, and with the brokers gone each batch is retried up to
// MaxAttempts times, each attempt bounded by WriteTimeout, so it can block
// for minutes (segmentio/kafka-go#1099). It runs in a goroutine, and the
// phase stops waiting at its deadline.
//
// Close returns nil whatever became of the batches: the outcome is in the
// counts that Completion keeps. Whatever was accepted and not delivered is
// reported, and fails the phase, so the exit code says messages were lost.
func (p *producer) flush(ctx context.Context) error {
	p.logger.Info("flushing kafka", "pending", p.accepted.Load()-p.delivered.Load()-p.failed.Load())
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = p.writer.Close() // always nil: see above
		// Writer.Close releases only a transport that NewWriter made.
		p.transport.CloseIdleConnections()
	}()

	var err error
	select {
	case <-closed:
	case <-ctx.Done():
		// The writer is still trying. It is left to go on until its
		// retries run out or the process exits, which it does once the
		// phases have run; a message it still delivers in that time is
		// delivered, but this report can no longer say so.
		err = ctx.Err()
	}
	delivered := p.delivered.Load()
	if undelivered := p.accepted.Load() - delivered; undelivered > 0 {
		p.logger.Error("kafka flush incomplete", "undelivered", undelivered, "delivered", delivered, "err", err)
		if err == nil {
			return fmt.Errorf("%d message(s) undelivered", undelivered)
		}
		return fmt.Errorf("%d message(s) undelivered: %w", undelivered, err)
	}
	p.logger.Info("kafka flushed", "delivered", delivered)
	return nil
}
