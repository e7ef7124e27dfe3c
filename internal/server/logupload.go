package server

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/rgrid/rgrid/client"
)

// maxLogUpload bounds the body of one log upload (a worker sends at most
// 4 MiB of output per request; base64 in JSON makes that 5.4 MiB).
const maxLogUpload = 16 << 20

// decodeLogUpload reads the body of POST .../logs: the framed
// client.LogUploadContentType that workers send, whose chunks' bytes are
// the output itself, or JSON from older workers and other clients.
func decodeLogUpload(w http.ResponseWriter, r *http.Request) (client.LogUpload, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != client.LogUploadContentType {
		var req client.LogUpload
		err := decodeJSON(w, r, maxLogUpload, &req)
		return req, err
	}
	body := http.MaxBytesReader(w, r.Body, maxLogUpload)
	buf := make([]byte, 0, max(0, min(r.ContentLength, maxLogUpload))+1) // +1: ReadAll sees EOF without growing
	buf, err := readAllInto(body, buf)
	if err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			return client.LogUpload{}, errorf(client.CodeTooLarge,
				"send at most 4 MiB of output per request", "request body is larger than %d bytes", int64(maxLogUpload)).with("limit_bytes", int64(maxLogUpload))
		}
		return client.LogUpload{}, errorf(client.CodeInvalidRequest, "send the whole body again", "reading the request body: %v", err)
	}
	up, err := client.DecodeLogUpload(buf)
	if err != nil {
		// Not invalid_json: that answer makes a worker fall back to JSON,
		// which is for servers that do not read this body at all.
		return client.LogUpload{}, errorf(client.CodeInvalidRequest,
			"send a line of JSON describing the chunks with their sizes, then their bytes ("+client.LogUploadContentType+", see client.EncodeLogUpload)", "%v", err)
	}
	return up, nil
}

// readAllInto is io.ReadAll appending to buf.
func readAllInto(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
