;; The relay: calls the imported `lattice:greeter/greet.hello` (another component, reached over
;; a component-to-component link) and answers "relayed: " followed by the greeter's answer.
;; Canonical ABI: the lowered `hello(string) -> string` takes (ptr, len, retptr) and writes the
;; answer's (ptr, len) at retptr, allocating it with our `cabi_realloc`.
(module
  (import "lattice:greeter/greet@0.1.0" "hello" (func $hello (param i32 i32 i32)))

  (memory (export "memory") 1)
  ;; Static data below 1024; the import's answer at 1024; the heap from 2048.
  (global $heap (mut i32) (i32.const 2048))
  (data (i32.const 0) "relayed: ")         ;; 0, 9

  (func $alloc (param $size i32) (result i32)
    (local $ptr i32) (local $end i32) (local $pages i32)
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

  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (call $alloc (local.get $size)))
    (if (local.get $old_size)
      (then (memory.copy (local.get $ptr) (local.get $old) (local.get $old_size))))
    (local.get $ptr))

  (func (export "cabi_post_lattice:greeter/relay@0.1.0#relay") (param i32)
    (global.set $heap (i32.const 2048)))

  (func (export "lattice:greeter/relay@0.1.0#relay") (param $name i32) (param $name_len i32) (result i32)
    (local $answer i32) (local $answer_len i32) (local $out i32) (local $out_len i32) (local $ret i32)
    (call $hello (local.get $name) (local.get $name_len) (i32.const 1024))
    (local.set $answer (i32.load (i32.const 1024)))
    (local.set $answer_len (i32.load offset=4 (i32.const 1024)))
    (local.set $out_len (i32.add (local.get $answer_len) (i32.const 9)))
    (local.set $out (call $alloc (local.get $out_len)))
    (memory.copy (local.get $out) (i32.const 0) (i32.const 9))
    (memory.copy (i32.add (local.get $out) (i32.const 9)) (local.get $answer) (local.get $answer_len))
    (local.set $ret (call $alloc (i32.const 8)))
    (i32.store (local.get $ret) (local.get $out))
    (i32.store offset=4 (local.get $ret) (local.get $out_len))
    (local.get $ret))
)
