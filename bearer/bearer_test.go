package bearer

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	long := strings.Repeat("a", 1<<20)
	tests := []struct {
		name  string
		value string
		want  string
		err   error
	}{
		{"canonical", "Bearer abc.def-_~+/", "abc.def-_~+/", nil},
		{"H1_lowercase_scheme", "bearer abc", "abc", nil},
		{"H1_uppercase_scheme", "BEARER abc", "abc", nil},
		{"H1_mixed_case_scheme", "bEaReR abc", "abc", nil},
		{"H2_several_spaces", "Bearer     abc", "abc", nil},
		{"padding", "Bearer abc==", "abc==", nil},
		{"jwt_shape", "Bearer eyJ0.eyJ1.c2ln", "eyJ0.eyJ1.c2ln", nil},
		{"C4_1MB_token", "Bearer " + long, long, nil},
		{"H3_scheme_only", "Bearer", "", ErrInvalidRequest},
		{"H3_scheme_and_spaces", "Bearer   ", "", ErrInvalidRequest},
		{"H3_tab_separator", "Bearer\tabc", "", ErrInvalidRequest},
		{"H3_space_then_tab", "Bearer \tabc", "", ErrInvalidRequest},
		{"H3_trailing_word", "Bearer abc def", "", ErrInvalidRequest},
		{"H3_trailing_space", "Bearer abc ", "", ErrInvalidRequest},
		{"C6_newline_inside", "Bearer abc\ndef", "", ErrInvalidRequest},
		{"C6_cr_inside", "Bearer abc\rdef", "", ErrInvalidRequest},
		{"padding_in_middle", "Bearer ab=c", "", ErrInvalidRequest},
		{"only_padding", "Bearer ==", "", ErrInvalidRequest},
		{"comma_list", "Bearer a, Bearer b", "", ErrInvalidRequest},
		{"non_ascii", "Bearer abc\u00e9", "", ErrInvalidRequest},
		{"nul", "Bearer abc\x00", "", ErrInvalidRequest},
		{"quoted", `Bearer "abc"`, "", ErrInvalidRequest},
		{"H6_basic", "Basic dXNlcjpwYXNz", "", ErrNoCredentials},
		{"empty", "", "", ErrNoCredentials},
		{"short", "Bear", "", ErrNoCredentials},
		{"other_scheme_with_bearer_prefix", "Bearerx abc", "", ErrNoCredentials},
		{"leading_space", " Bearer abc", "", ErrNoCredentials},
		{"dpop", "DPoP abc", "", ErrNoCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.value)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("Parse error = %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("Parse = %.40q, want %.40q", got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "abc") {
				t.Fatalf("error %q reflects the value", err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "bearer: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			// ParseValues with one value agrees with Parse.
			got2, err2 := ParseValues([]string{tc.value})
			if got2 != got || !errors.Is(err2, tc.err) {
				t.Fatalf("ParseValues = %.40q, %v; Parse = %.40q, %v", got2, err2, got, err)
			}
		})
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		value string
		want  string
		err   error
	}{
		{"Bearer abc", "abc", nil},
		// Cut does not check the token's characters: Parse does.
		{"Bearer abc def", "abc def", nil},
		{"bearer  a\tb", "a\tb", nil},
		{"Bearer", "", ErrInvalidRequest},
		{"Bearer  ", "", ErrInvalidRequest},
		{"Bearer\tabc", "", ErrInvalidRequest},
		{"Basic abc", "", ErrNoCredentials},
		{"Bearerabc", "", ErrNoCredentials},
	}
	for _, tc := range tests {
		got, err := Cut(tc.value)
		if got != tc.want || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
			t.Errorf("Cut(%q) = %q, %v; want %q, %v", tc.value, got, err, tc.want, tc.err)
		}
	}
}

func TestParseValues(t *testing.T) {
	if _, err := ParseValues(nil); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("no values: %v", err)
	}
	// H5: two values are a malformed request whatever they hold, even two
	// identical valid tokens or a Basic value next to a bearer one.
	for _, vals := range [][]string{
		{"Bearer abc", "Bearer abc"},
		{"Bearer abc", "Basic xyz"},
		{"Basic xyz", "Basic xyz"},
		{"", ""},
	} {
		if _, err := ParseValues(vals); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("ParseValues(%q) = %v, want ErrInvalidRequest", vals, err)
		}
		if _, err := CutValues(vals); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("CutValues(%q) = %v, want ErrInvalidRequest", vals, err)
		}
	}
	if tok, err := ParseValues([]string{"Bearer abc"}); tok != "abc" || err != nil {
		t.Errorf("one value: %q, %v", tok, err)
	}
	if _, err := ParseValues([]string{"Bearer a b"}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("malformed value: %v", err)
	}
}

func TestIsB64Token(t *testing.T) {
	// Every byte, at every position of an 8-byte block and in the tail.
	for c := 0; c < 256; c++ {
		want := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.ContainsRune("-._~+/", rune(c))
		for _, n := range []int{1, 7, 8, 9, 17} {
			for pos := 0; pos < n; pos++ {
				b := []byte(strings.Repeat("x", n))
				b[pos] = byte(c)
				got := IsB64Token(string(b))
				w := want || (c == '=' && pos == n-1 && n > 1)
				if got != w {
					t.Fatalf("IsB64Token with byte %#x at %d of %d = %v, want %v", c, pos, n, got, w)
				}
			}
		}
	}
	for s, want := range map[string]bool{
		"": false, "=": false, "a=": true, "a==": true, "a=a": false, "abcdefgh=": true,
		"abcdefghi=j": false, "abcdefgh========": true,
	} {
		if got := IsB64Token(s); got != want {
			t.Errorf("IsB64Token(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	v := "Bearer " + strings.Repeat("abcd.", 200)
	vals := []string{v}
	n := testing.AllocsPerRun(100, func() {
		_, _ = Parse(v)
		_, _ = Cut(v)
		_, _ = ParseValues(vals)
		_, _ = Parse("Bearer a b")
		_, _ = Parse("Basic x")
	})
	if n != 0 {
		t.Fatalf("allocations per run = %v, want 0", n)
	}
}

// reference is an independent, regexp-based statement of the rules, used
// as the oracle of FuzzParse.
var (
	refFull   = regexp.MustCompile(`^[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)$`)
	refScheme = regexp.MustCompile(`^[Bb][Ee][Aa][Rr][Ee][Rr]([ \t]|$)`)
)

func reference(v string) (string, error) {
	if m := refFull.FindStringSubmatch(v); m != nil {
		return m[1], nil
	}
	if refScheme.MatchString(v) {
		return "", ErrInvalidRequest
	}
	return "", ErrNoCredentials
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"Bearer abc", "bearer abc", "BEARER   abc==", "Bearer", "Bearer ", "Bearer\tabc",
		"Bearer abc def", "Basic dXNlcg==", "", "Bearerabc", "Bearer a=b", "Bearer \x00",
		"Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "Bearer abcdefgh=ijklmnop",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, err := Parse(v)
		rtok, rerr := reference(v)
		if tok != rtok || !errors.Is(err, rerr) || (err == nil) != (rerr == nil) {
			t.Fatalf("Parse(%q) = %q, %v; reference %q, %v", v, tok, err, rtok, rerr)
		}
		if err == nil && !strings.HasSuffix(v, tok) {
			t.Fatalf("token %q is not a suffix of %q", tok, v)
		}
		// Cut agrees with Parse on the scheme, and Parse = Cut + IsB64Token.
		ctok, cerr := Cut(v)
		switch {
		case errors.Is(err, ErrNoCredentials):
			if !errors.Is(cerr, ErrNoCredentials) {
				t.Fatalf("Cut(%q) = %v, Parse says no credentials", v, cerr)
			}
		case cerr != nil:
			if !errors.Is(err, ErrInvalidRequest) || !errors.Is(cerr, ErrInvalidRequest) {
				t.Fatalf("Cut(%q) = %v, Parse = %v", v, cerr, err)
			}
		default:
			if (err == nil) != IsB64Token(ctok) || (err == nil && ctok != tok) {
				t.Fatalf("Cut(%q) = %q; Parse = %q, %v", v, ctok, tok, err)
			}
		}
	})
}

var sink string

func BenchmarkParse(b *testing.B) {
	v := "Bearer " + strings.Repeat("eyJhbGciOiJSUzI1NiJ9.", 43)[:900]
	b.Run("Parse_900B", func(b *testing.B) {
		for b.Loop() {
			sink, _ = Parse(v)
		}
	})
	b.Run("Cut_900B", func(b *testing.B) {
		for b.Loop() {
			sink, _ = Cut(v)
		}
	})
}

func TestIsDPoPScheme(t *testing.T) {
	for v, want := range map[string]bool{
		"DPoP": true, "dpop x": true, "DPOP\tx": true, "DPoP  x": true,
		"": false, "DPo": false, "DPoPx y": false, "Bearer x": false, "DPoP,x": false, " DPoP x": false,
	} {
		if got := IsDPoPScheme(v); got != want {
			t.Errorf("IsDPoPScheme(%q) = %v, want %v", v, got, want)
		}
	}
}
