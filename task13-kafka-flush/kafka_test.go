package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"gracefulshutdown.lab/labtest"
)

// The topic every test produces to. The tests' clusters give it several
// partitions, like a real topic: the writer spreads the messages over them
// round-robin, so 100 messages never fill a batch (100 messages, kafka-go's
// BatchSize) and all of them wait for -batch-timeout, or for the flush.
const (
	topic          = "events"
	testPartitions = 3
)

// singleFileTopic is a topic of one partition, seeded where a test asks
// for it. The writer sends a partition's batches one after another, each
// once the one before it is done (acknowledged or given up on, its
// Completion called), so on this topic the broker's seeing a batch proves
// that every batch sent before it has had its Completion.
const singleFileTopic = "single-file"

// testCluster is a Kafka cluster of the test's own: one kfake broker, in
// this test process, on a loopback port, with the topic already created.
type testCluster struct {
	*kfake.Cluster
	addr string
}

// startCluster starts a cluster that the test closes when it ends, unless
// it has closed it already (Close may be called more than once).
func startCluster(t *testing.T, opts ...kfake.Opt) *testCluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(testPartitions, topic)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("cannot start the test's Kafka cluster (kfake): %v", err)
	}
	t.Cleanup(c.Close)
	return &testCluster{Cluster: c, addr: c.ListenAddrs()[0]}
}

// env points the program at this cluster.
func (tc *testCluster) env() []string { return []string{"KAFKA_BROKERS=" + tc.addr} }

// refuseProduce makes the broker answer every produce request with
// TOPIC_AUTHORIZATION_FAILED for each of its partitions, as a broker does
// when the producer's rights to the topic have been withdrawn. No client
// retries that error: the writer gives the batch up at once.
func (tc *testCluster) refuseProduce() {
	tc.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		tc.KeepControl() // every produce request, not just the first
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// ackLog is what the test's broker saw the writer ask for in its produce
// requests: each request's acks, -1 (all in-sync replicas), 1 (the leader
// only) or 0 (no answer at all).
type ackLog struct {
	mu   sync.Mutex
	acks map[int16]bool
}

// recordAcks notes the acks of every produce request, and lets the broker
// handle each one as usual.
func (tc *testCluster) recordAcks() *ackLog {
	l := &ackLog{acks: map[int16]bool{}}
	tc.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		l.mu.Lock()
		l.acks[kreq.(*kmsg.ProduceRequest).Acks] = true
		l.mu.Unlock()
		return nil, nil, false // not handled here: the broker answers it
	})
	return l
}

// kafkaRequireAll is the acks of kafka.RequireAll on the wire: every
// in-sync replica has the batch before the broker answers.
const kafkaRequireAll = -1

// acksName is the kafka-go RequiredAcks that asks for acks.
func acksName(acks int16) string {
	switch acks {
	case -1:
		return "kafka.RequireAll"
	case 1:
		return "kafka.RequireOne"
	case 0:
		return "kafka.RequireNone, the default"
	default:
		return "no RequiredAcks of kafka-go's"
	}
}

// whatAcksMeans says, in a learner's terms, what a produce request's acks
// other than kafkaRequireAll does to "delivered".
func whatAcksMeans(acks int16) string {
	switch acks {
	case 1:
		return "With acks=1 the partition's leader alone has the batch when it answers, and a leader that fails before " +
			"a follower has copied it (a crash, a failover) loses messages that were counted delivered. Delivered should " +
			"mean acknowledged by every in-sync replica: RequiredAcks: kafka.RequireAll."
	case 0:
		return "With acks=0 the broker does not answer at all, and the writer counts a batch delivered once it is " +
			"written to the socket. Set RequiredAcks: kafka.RequireAll."
	default:
		return "Set RequiredAcks: kafka.RequireAll."
	}
}

// other is every acks value seen but want, in increasing order.
func (l *ackLog) other(want int16) []int16 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int16
	for a := range l.acks {
		if a != want {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// produceGate stands between the writer and the test's broker. At first
// the broker acknowledges every produce request as usual, and the gate
// counts the messages it let through; once the test calls hang, the broker
// answers none: each request is read and left unanswered, as by a broker
// that hangs, and the writer waits for an answer (kafka-go's WriteTimeout,
// 10 s, per attempt).
type produceGate struct {
	mu      sync.Mutex
	hung    bool
	passed  int           // messages in the requests the broker handled
	held    int           // requests left unanswered
	changed chan struct{} // closed and replaced on every request
}

func (tc *testCluster) gateProduce() *produceGate {
	g := &produceGate{changed: make(chan struct{})}
	tc.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		tc.KeepControl() // every produce request, not just the first
		g.mu.Lock()
		defer g.mu.Unlock()
		defer func() { close(g.changed); g.changed = make(chan struct{}) }()
		if g.hung {
			g.held++
			return nil, nil, true // handled, and never answered
		}
		g.passed += messagesIn(kreq.(*kmsg.ProduceRequest))
		return nil, nil, false // the broker handles it as usual
	})
	return g
}

// hang makes the broker leave every produce request from now on
// unanswered.
func (g *produceGate) hang() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hung = true
}

// waitUntil waits until cond, called with the gate's counts, holds, and
// fails the test with what, and the transcript, if it does not within
// 10 s.
func (g *produceGate) waitUntil(t *testing.T, p *labtest.Program, what string, cond func(passed, held int) bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		g.mu.Lock()
		ok, passed, changed := cond(g.passed, g.held), g.passed, g.changed
		g.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("the test's broker was still waiting for %s 10s later (it has acknowledged %d message(s)); "+
				"with -batch-timeout this short the writer sends each batch within moments.\n%s", what, passed, p.Transcript())
		}
	}
}

// messagesIn counts the messages of a produce request: each partition's
// records are one or more record batches, each of which says how many
// records it holds.
func messagesIn(req *kmsg.ProduceRequest) int {
	n := 0
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			for b := rp.Records; len(b) > 0; {
				var batch kmsg.RecordBatch
				if batch.ReadFrom(b) != nil {
					break
				}
				n += int(batch.NumRecords)
				// FirstOffset and Length (12 bytes), then Length bytes.
				if size := 12 + int(batch.Length); size > 0 && size <= len(b) {
					b = b[size:]
				} else {
					break
				}
			}
		}
	}
	return n
}

// consumer reads the topic back with franz-go's client, a Kafka client
// written independently of the kafka-go writer the program uses, so the
// two do not share a misunderstanding of the protocol.
func (tc *testCluster) consumer(t *testing.T) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(tc.addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// A fetch that finds no new message waits this long on the
		// broker; the default, 5s, would hold up a read whose messages
		// are all on a partition the first fetch did not ask for yet.
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("cannot create the test's Kafka consumer: %v", err)
	}
	return cl
}

// waitForMessages reads the topic from the start until it has n messages,
// for a program that is still running, and returns their values. It fails
// the test if they do not all arrive within the time given.
func (tc *testCluster) waitForMessages(t *testing.T, p *labtest.Program, n int, within time.Duration, why string) []string {
	t.Helper()
	cl := tc.consumer(t)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var values []string
	for len(values) < n && ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		fetches.EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
	}
	if len(values) < n {
		t.Fatalf("the topic holds %d message(s) %v later; want %d: %s\n%s", len(values), within, n, why, p.Transcript())
	}
	return values
}

// messages is everything the topic holds, read after the program has
// exited: the end offset of each partition says how many messages there
// are, and the consumer reads exactly that many.
func (tc *testCluster) messages(t *testing.T) []string {
	t.Helper()
	cl := tc.consumer(t)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("cannot ask the test's cluster how many messages the topic holds: %v", err)
	}
	total := 0
	ends.Each(func(o kadm.ListedOffset) { total += int(o.Offset) })
	var values []string
	for len(values) < total && ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		fetches.EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
	}
	if len(values) < total {
		t.Fatalf("the topic's end offsets say it holds %d messages, but the consumer read only %d in 10s", total, len(values))
	}
	return values
}

// missingAndExtra compares the messages a topic holds with the ones the
// test posted: missing were posted but are not there; extra are there more
// often than they were posted, or were never posted.
func missingAndExtra(got, posted []string) (missing, extra []string) {
	count := map[string]int{}
	for _, v := range got {
		count[v]++
	}
	for _, v := range posted {
		if count[v] == 0 {
			missing = append(missing, v)
			continue
		}
		count[v]--
	}
	for _, v := range got {
		if count[v] > 0 {
			extra = append(extra, v)
			count[v]--
		}
	}
	return missing, extra
}

// bodies makes n distinct messages: "<prefix>-000", "<prefix>-001", ...
func bodies(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// postAll posts each message to /events, a few at a time, each on a fresh
// connection, and fails the test unless every one is answered 202 Accepted.
func postAll(t *testing.T, p *labtest.Program, addr string, messages []string) {
	t.Helper()
	const parallel = 8
	sem := make(chan struct{}, parallel)
	var (
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
	)
	for _, m := range messages {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := <-labtest.Do(postRequest(addr, m), 10*time.Second)
			if r.Err != nil || r.Status != http.StatusAccepted {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("POST %q: %v", m, r))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d messages were not accepted; want 202 Accepted for each, before any signal. The first:\n  %s\n%s",
			len(failures), len(messages), failures[0], p.Transcript())
	}
}

func postRequest(addr, body string) *http.Request {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/events", strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	return req
}
