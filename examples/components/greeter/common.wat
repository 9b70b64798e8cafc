  ;; The greeter's plumbing, shared by every revision: canonical-ABI imports, memory, a bump
  ;; allocator and a string builder. `build.sh` wraps this and one revision's `hello` into a
  ;; core module and componentizes it against `wit/`.
  ;;
  ;; Canonical ABI layouts used below (see the WIT in wit/):
  ;;   config get  -> result<option<string>, error>: tag @0, option tag @4, string @8/@12
  ;;   kv open     -> result<bucket, error>:           tag @0, handle @4
  ;;   kv increment-> result<u64, error>:              tag @0, value @8 (u64 is 8-aligned)
  (import "wasi:config/store@0.2.0-rc.1" "get" (func $config_get (param i32 i32 i32)))
  (import "wasi:keyvalue/store@0.2.0-draft" "open" (func $kv_open (param i32 i32 i32)))
  (import "wasi:keyvalue/store@0.2.0-draft" "[resource-drop]bucket" (func $bucket_drop (param i32)))
  (import "wasi:keyvalue/atomics@0.2.0-draft" "increment"
    (func $kv_increment (param i32 i32 i32 i64 i32)))

  (memory (export "memory") 1)
  ;; Static data lives below 1024; import results at 1024 (32 bytes); the heap from 2048.
  (global $heap (mut i32) (i32.const 2048))
  (global $out (mut i32) (i32.const 0))
  (global $out_len (mut i32) (i32.const 0))
  (data (i32.const 0) "greeting")          ;; 0, 8
  (data (i32.const 16) "Hello")            ;; 16, 5
  (data (i32.const 32) "visits")           ;; 32, 6
  (data (i32.const 48) ", ")               ;; 48, 2

  (func $alloc (param $size i32) (result i32)
    (local $ptr i32) (local $end i32) (local $pages i32)
    ;; 8-byte alignment covers every type the greeter exchanges.
    (local.set $ptr (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (local.set $pages
          (i32.add (i32.div_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
                              (i32.const 65536))
                   (i32.const 1)))
        (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1)) (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  ;; After the host has read an answer, everything allocated for the call is free again, so an
  ;; instance that is kept and called again does not grow.
  (func (export "cabi_post_lattice:greeter/greet@0.1.0#hello") (param i32)
    (global.set $heap (i32.const 2048)))

  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (call $alloc (local.get $size)))
    (if (local.get $old_size)
      (then (memory.copy (local.get $ptr) (local.get $old) (local.get $old_size))))
    (local.get $ptr))

  ;; The answer being built: `$begin` reserves room, `$emit*` append, `$finish` returns the
  ;; (pointer, length) pair the export lifts as a string.
  (func $begin (param $capacity i32)
    (global.set $out (call $alloc (local.get $capacity)))
    (global.set $out_len (i32.const 0)))

  (func $emit (param $ptr i32) (param $len i32)
    (memory.copy (i32.add (global.get $out) (global.get $out_len)) (local.get $ptr) (local.get $len))
    (global.set $out_len (i32.add (global.get $out_len) (local.get $len))))

  (func $emit_u64 (param $n i64)
    (local $digits i32) (local $i i32) (local $m i64)
    ;; Count the digits, then write them from the last one backwards.
    (local.set $m (local.get $n))
    (local.set $digits (i32.const 1))
    (block $done (loop $count
      (br_if $done (i64.lt_u (local.get $m) (i64.const 10)))
      (local.set $m (i64.div_u (local.get $m) (i64.const 10)))
      (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
      (br $count)))
    (local.set $i (local.get $digits))
    (local.set $m (local.get $n))
    (loop $write
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (i32.add (global.get $out) (global.get $out_len)) (local.get $i))
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $m) (i64.const 10)))))
      (local.set $m (i64.div_u (local.get $m) (i64.const 10)))
      (br_if $write (local.get $i)))
    (global.set $out_len (i32.add (global.get $out_len) (local.get $digits))))

  (func $finish (result i32)
    (local $ret i32)
    (local.set $ret (call $alloc (i32.const 8)))
    (i32.store (local.get $ret) (global.get $out))
    (i32.store offset=4 (local.get $ret) (global.get $out_len))
    (local.get $ret))

  ;; The configured greeting (`greeting` in wasi:config), "Hello" when there is none.
  ;; Returns (pointer, length).
  (func $greeting (result i32 i32)
    (call $config_get (i32.const 0) (i32.const 8) (i32.const 1024))
    (if (result i32 i32)
        (i32.and (i32.eqz (i32.load8_u (i32.const 1024)))
                 (i32.eq (i32.load8_u offset=4 (i32.const 1024)) (i32.const 1)))
      (then (i32.load offset=8 (i32.const 1024)) (i32.load offset=12 (i32.const 1024)))
      (else (i32.const 16) (i32.const 5))))

  ;; Increments `visits` in the linked key-value store's bucket; -1 when the store fails.
  (func $count_visit (result i64)
    (local $bucket i32) (local $count i64)
    (local.set $count (i64.const -1))
    ;; The empty identifier: the provider uses the bucket its link names.
    (call $kv_open (i32.const 0) (i32.const 0) (i32.const 1024))
    (if (i32.eqz (i32.load8_u (i32.const 1024)))
      (then
        (local.set $bucket (i32.load offset=4 (i32.const 1024)))
        (call $kv_increment (local.get $bucket) (i32.const 32) (i32.const 6) (i64.const 1) (i32.const 1024))
        (if (i32.eqz (i32.load8_u (i32.const 1024)))
          (then (local.set $count (i64.load offset=8 (i32.const 1024)))))
        (call $bucket_drop (local.get $bucket))))
    (local.get $count))
