module example.com/redis-binding-example

go 1.22

require github.com/nats-io/nats.go v1.55.0
