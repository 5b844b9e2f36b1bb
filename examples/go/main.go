// Calls a redis-binding-worker binding from Go with nats.go.
//
//	go mod tidy
//	NATS_URL=nats://127.0.0.1:4222 go run .
//
// The wire format is docs/PROTOCOL.md: one JSON request per NATS request to
// bindings.<name>; errors come back with a Nats-Service-Error-Code header.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// BindingError is a worker's error reply (PROTOCOL section 5).
type BindingError struct {
	Status    int    `json:"-"`
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
}

func (e *BindingError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.ErrorCode, e.Message)
}

// Retryable: 503 (Redis unreachable, worker busy) and 504 (timeout) may pass; the rest will not.
func (e *BindingError) Retryable() bool { return e.Status == 503 || e.Status == 504 }

// Binding is one binding (Dapr component) served on <prefix>.<name>.
type Binding struct {
	nc      *nats.Conn
	subject string
	timeout time.Duration
}

func NewBinding(nc *nats.Conn, name string) *Binding {
	return &Binding{nc: nc, subject: "bindings." + name, timeout: 5 * time.Second}
}

type request struct {
	Operation string            `json:"operation"`
	Metadata  map[string]string `json:"metadata"`
	Data      any               `json:"data,omitempty"`
}

// setHeader stores the name exactly as written, whatever a Header method
// would do with its case. The worker reads the metadata it knows in any case,
// but other names (and other readers of the message) see them as sent.
func setHeader(h nats.Header, name, value string) { h[name] = []string{value} }

func (b *Binding) send(msg *nats.Msg) ([]byte, error) {
	// The worker gets the same deadline and answers 504 when it passes; wait a
	// little longer so that answer arrives rather than a bare timeout.
	setHeader(msg.Header, "Binding-Timeout", b.timeout.String())
	reply, err := b.nc.RequestMsg(msg, b.timeout+250*time.Millisecond)
	if err != nil {
		return nil, err // nats.ErrNoResponders: no worker serves the binding; nats.ErrTimeout
	}
	if status := reply.Header.Get("Nats-Service-Error-Code"); status != "" {
		e := &BindingError{}
		e.Status, _ = strconv.Atoi(status)
		_ = json.Unmarshal(reply.Data, e)
		return nil, e
	}
	return reply.Data, nil
}

// Invoke sends a JSON-mode request and returns the reply's payload (empty for success without content).
func (b *Binding) Invoke(operation string, metadata map[string]string, data any) ([]byte, error) {
	body, err := json.Marshal(request{Operation: operation, Metadata: metadata, Data: data})
	if err != nil {
		return nil, err
	}
	msg := nats.NewMsg(b.subject)
	msg.Data = body
	return b.send(msg)
}

func (b *Binding) Create(key string, value any, ttl string) error {
	metadata := map[string]string{"key": key}
	if ttl != "" {
		metadata["ttlInSeconds"] = ttl
	}
	_, err := b.Invoke("create", metadata, value)
	return err
}

// Get decodes the stored JSON into out; found is false for a missing key.
func (b *Binding) Get(key string, del bool, out any) (found bool, err error) {
	metadata := map[string]string{"key": key}
	if del {
		metadata["delete"] = "true"
	}
	reply, err := b.Invoke("get", metadata, nil)
	if err != nil || len(reply) == 0 {
		return false, err
	}
	return true, json.Unmarshal(reply, &struct{ Data any }{Data: out})
}

func (b *Binding) Delete(key string) error {
	_, err := b.Invoke("delete", map[string]string{"key": key}, nil)
	return err
}

func (b *Binding) Increment(key string) (int64, error) {
	reply, err := b.Invoke("increment", map[string]string{"key": key}, nil)
	if err != nil {
		return 0, err
	}
	// A counter beyond 2^53 comes as a JSON string: json.Number reads both forms.
	var answer struct {
		Data json.Number `json:"data"`
	}
	if err := json.Unmarshal(reply, &answer); err != nil {
		return 0, err
	}
	return strconv.ParseInt(answer.Data.String(), 10, 64)
}

// CreateBytes stores bytes as they are (raw mode: operation and metadata in headers).
func (b *Binding) CreateBytes(key string, value []byte) error {
	msg := nats.NewMsg(b.subject)
	setHeader(msg.Header, "Content-Type", "application/octet-stream")
	setHeader(msg.Header, "operation", "create")
	setHeader(msg.Header, "metadata.key", key)
	msg.Data = value
	_, err := b.send(msg)
	return err
}

// GetBytes returns the stored bytes as they are (raw mode).
func (b *Binding) GetBytes(key string) ([]byte, error) {
	msg := nats.NewMsg(b.subject)
	setHeader(msg.Header, "Content-Type", "application/octet-stream")
	setHeader(msg.Header, "operation", "get")
	setHeader(msg.Header, "metadata.key", key)
	return b.send(msg)
}

func main() {
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	cache := NewBinding(nc, "cache")

	if err := cache.Create("greeting", map[string]string{"hello": "world"}, "1h"); err != nil {
		log.Fatal(err)
	}
	var greeting map[string]string
	if _, err := cache.Get("greeting", false, &greeting); err != nil {
		log.Fatal(err)
	}
	fmt.Println("get greeting:", greeting)

	hits, err := cache.Increment("hits")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("increment hits:", hits)

	if err := cache.CreateBytes("logo", []byte{0x89, 'P', 'N', 'G'}); err != nil {
		log.Fatal(err)
	}
	logo, err := cache.GetBytes("logo")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("get logo (raw): %q\n", logo)

	found, err := cache.Get("greeting", true, &greeting)
	fmt.Println("get greeting, deleting it:", found, greeting, err)
	found, err = cache.Get("greeting", false, &greeting)
	fmt.Println("get greeting again: found =", found, err)

	var bindingErr *BindingError
	if err := cache.Create("bad", 1, "0"); errors.As(err, &bindingErr) {
		fmt.Printf("create with ttl 0: %d %s, retryable: %v\n",
			bindingErr.Status, bindingErr.ErrorCode, bindingErr.Retryable())
	}
	if _, err := NewBinding(nc, "nosuchbinding").Get("k", false, nil); errors.Is(err, nats.ErrNoResponders) {
		fmt.Println("unknown binding: no responders")
	}
}
