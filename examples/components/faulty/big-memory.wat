  ;; Starts with 128 MiB of linear memory, more than the runtime's default limit (64 MiB).
  (memory $big 2048)
  (func (export "lattice:greeter/greet@0.1.0#hello") (param i32 i32) (result i32)
    (call $answer (i32.const 0) (i32.const 0)))
