  ;; Revision 2: new code — the count first, then the greeting, and a sign-off.
  (data (i32.const 64) "visit ")                  ;; 64, 6
  (data (i32.const 80) ": ")                      ;; 80, 2
  (data (i32.const 96) ". Welcome back! (greeter v2)") ;; 96, 28
  (data (i32.const 128) "visit ?: ")              ;; 128, 9

  (func (export "lattice:greeter/greet@0.1.0#hello") (param $name i32) (param $name_len i32) (result i32)
    (local $g i32) (local $g_len i32) (local $count i64)
    (call $greeting) (local.set $g_len) (local.set $g)
    (local.set $count (call $count_visit))
    (call $begin (i32.add (i32.add (local.get $name_len) (local.get $g_len)) (i32.const 128)))
    (if (i64.lt_s (local.get $count) (i64.const 0))
      (then (call $emit (i32.const 128) (i32.const 9)))
      (else
        (call $emit (i32.const 64) (i32.const 6))
        (call $emit_u64 (local.get $count))
        (call $emit (i32.const 80) (i32.const 2))))
    (call $emit (local.get $g) (local.get $g_len))
    (call $emit (i32.const 48) (i32.const 2))
    (call $emit (local.get $name) (local.get $name_len))
    (call $emit (i32.const 96) (i32.const 28))
    (call $finish))
