package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rgrid/rgrid/client"
)

// closedURL is the address of a port that nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	url := closedURL(t)
	c, err := client.New(url, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Health(t.Context())
	var ue *client.UnreachableError
	if !errors.As(err, &ue) || ue.URL != url {
		t.Fatalf("err = %#v, want an UnreachableError for %s", err, url)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Errorf("the transport's error is not kept: %v", err)
	}
}

func TestCanceledRequestIsNotUnreachable(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = c.Health(ctx)
	var ue *client.UnreachableError
	if !errors.Is(err, context.Canceled) || errors.As(err, &ue) {
		t.Errorf("err = %v, want context.Canceled and no UnreachableError", err)
	}
}

func TestAPIErrorKeepsStatusAndCode(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":"not_found","message":"job x not found","hint":"check the id"}`))
	}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Job(t.Context(), "x")
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 404 || e.Code != client.CodeNotFound || e.Hint != "check the id" {
		t.Errorf("err = %#v", err)
	}
}
