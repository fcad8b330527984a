namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>An instruction and a response consistent with it, for supervised fine-tuning.</summary>
/// <example>" describe the dog at the river" -> " the dog ran to the river. then it went to the bank and watched the water."</example>
public sealed record InstructionExample(string Instruction, string Response);
