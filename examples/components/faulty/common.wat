  ;; Plumbing shared by the faulty components (the greeter's `greet` export, no imports).
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
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
  ;; After the host has read an answer, everything allocated for the call is free again, so an
  ;; instance that is kept and called again does not grow.
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
