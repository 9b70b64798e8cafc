  ;; The `shop` of the real-host rollout tests, revision 2 of its code: the greeter's `greet`
  ;; export (a 1.x host needs an export to serve) answering "shop 2" to any name, so a test
  ;; can tell which code a host runs by calling it.
  (data (i32.const 0) "shop 2")   ;; 0, 6
  (func (export "lattice:greeter/greet@0.1.0#hello") (param i32 i32) (result i32)
    (call $answer (i32.const 0) (i32.const 6)))
