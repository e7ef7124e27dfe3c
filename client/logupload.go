package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// LogUploadContentType is the framed body of POST
// /v1/jobs/{id}/attempts/{n}/logs, which a worker sends instead of the
// JSON LogUpload: one line of JSON describing the chunks (each with the
// size of its data, no data), then the chunks' bytes one after another,
// exactly as written. Output then travels as it is, where JSON would
// carry it in base64 and cost both ends a pass over every byte; the
// server accepts both.
//
//	{"truncated":false,"chunks":[{"attempt":1,"stream":"stdout","seq":1,"time":"…","size":5}]}\n
//	hello
const LogUploadContentType = "application/vnd.rgrid.log-upload"

// logUploadHeader is the first line of a framed LogUpload.
type logUploadHeader struct {
	Chunks    []logChunkHeader `json:"chunks"`
	Truncated bool             `json:"truncated,omitempty"`
}

type logChunkHeader struct {
	Attempt int       `json:"attempt"`
	Stream  Stream    `json:"stream"`
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Size    int       `json:"size"`
}

// EncodeLogUpload returns up as a LogUploadContentType body.
func EncodeLogUpload(up LogUpload) ([]byte, error) {
	h := logUploadHeader{Chunks: make([]logChunkHeader, len(up.Chunks)), Truncated: up.Truncated}
	size := 0
	for i, c := range up.Chunks {
		h.Chunks[i] = logChunkHeader{Attempt: c.Attempt, Stream: c.Stream, Seq: c.Seq, Time: c.Time, Size: len(c.Data)}
		size += len(c.Data)
	}
	head, err := json.Marshal(h) // one line: Marshal writes no newline
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(head)+1+size)
	b = append(append(b, head...), '\n')
	for _, c := range up.Chunks {
		b = append(b, c.Data...)
	}
	return b, nil
}

// ErrLogUploadFraming is wrapped by DecodeLogUpload's errors.
var ErrLogUploadFraming = errors.New("malformed " + LogUploadContentType + " body")

// DecodeLogUpload reads a LogUploadContentType body. The chunks' Data
// are slices of body, not copies.
func DecodeLogUpload(body []byte) (LogUpload, error) {
	head, data, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return LogUpload{}, fmt.Errorf("%w: no line of JSON ending in a newline before the data", ErrLogUploadFraming)
	}
	var h logUploadHeader
	dec := json.NewDecoder(bytes.NewReader(head))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return LogUpload{}, fmt.Errorf("%w: the first line: %v", ErrLogUploadFraming, err)
	}
	up := LogUpload{Chunks: make([]LogChunk, len(h.Chunks)), Truncated: h.Truncated}
	for i, c := range h.Chunks {
		if c.Size < 0 || c.Size > len(data) {
			return LogUpload{}, fmt.Errorf("%w: chunk %d's size %d is more than the %d bytes left", ErrLogUploadFraming, i, c.Size, len(data))
		}
		up.Chunks[i] = LogChunk{Attempt: c.Attempt, Stream: c.Stream, Seq: c.Seq, Time: c.Time, Data: data[:c.Size:c.Size]}
		data = data[c.Size:]
	}
	if len(data) > 0 {
		return LogUpload{}, fmt.Errorf("%w: %d bytes after the last chunk", ErrLogUploadFraming, len(data))
	}
	return up, nil
}
