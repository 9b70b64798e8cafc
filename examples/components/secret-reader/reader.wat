;; The secret-reader component (world `secret-reader` in greeter/wit): `hello(name)` gets the
;; secret `name` from `wasmcloud:secrets/store`, reveals it with `wasmcloud:secrets/reveal`,
;; and answers with its bytes reversed — or `error: no such secret` when `get` fails.
(module
  (import "wasmcloud:secrets/store@0.1.0-draft" "get" (func $get (param i32 i32 i32)))
  (import "wasmcloud:secrets/store@0.1.0-draft" "[resource-drop]secret" (func $drop (param i32)))
  (import "wasmcloud:secrets/reveal@0.1.0-draft" "reveal" (func $reveal (param i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "error: no such secret")      ;; 16, 21
  (func $alloc (param $size i32) (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.div_u (local.get $size) (i32.const 65536)) (i32.const 1)))
                    (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $ptr))
  (func (export "cabi_post_lattice:greeter/greet@0.1.0#hello") (param i32)
    (global.set $heap (i32.const 1024)))
  (func (export "cabi_realloc") (param i32 i32 i32) (param $size i32) (result i32)
    (call $alloc (local.get $size)))
  ;; Returns the string at (ptr, len) as the export's result.
  (func $answer (param $ptr i32) (param $len i32) (result i32)
    (local $ret i32)
    (local.set $ret (call $alloc (i32.const 8)))
    (i32.store (local.get $ret) (local.get $ptr))
    (i32.store offset=4 (local.get $ret) (local.get $len))
    (local.get $ret))
  (func (export "lattice:greeter/greet@0.1.0#hello") (param $name i32) (param $name_len i32) (result i32)
    (local $ret i32) (local $handle i32) (local $value i32) (local $len i32) (local $out i32) (local $i i32)
    ;; get: result<own<secret>, secrets-error> — tag at 0, handle (or error) at 4.
    (local.set $ret (call $alloc (i32.const 16)))
    (call $get (local.get $name) (local.get $name_len) (local.get $ret))
    (if (i32.load8_u (local.get $ret))
      (then (return (call $answer (i32.const 16) (i32.const 21)))))
    (local.set $handle (i32.load offset=4 (local.get $ret)))
    ;; reveal: secret-value — tag at 0, (ptr, len) at 4 and 8 for both cases.
    (local.set $ret (call $alloc (i32.const 12)))
    (call $reveal (local.get $handle) (local.get $ret))
    (call $drop (local.get $handle))
    (local.set $value (i32.load offset=4 (local.get $ret)))
    (local.set $len (i32.load offset=8 (local.get $ret)))
    (local.set $out (call $alloc (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (i32.store8
          (i32.add (local.get $out) (local.get $i))
          (i32.load8_u
            (i32.sub (i32.add (local.get $value) (local.get $len)) (i32.add (local.get $i) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $answer (local.get $out) (local.get $len)))
)
