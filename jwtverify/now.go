package jwtverify

import "time"

// Now reads the Verifier's clock (Config.Now, default time.Now). Adapters
// that keep a stream open on the strength of a token compute its remaining
// time as ValidUntil minus Now, so that an injected clock governs the end
// of the stream as it governs Verify.
func (v *Verifier) Now() time.Time { return v.now() }

// MaxTokenSize is the largest token Verify examines (Config.MaxTokenSize,
// default DefaultMaxTokenSize). Adapters that do work with a token before
// Verify (the DPoP proof's ath hashes it) refuse larger ones first.
func (v *Verifier) MaxTokenSize() int { return v.maxSize }
