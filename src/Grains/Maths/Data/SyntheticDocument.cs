namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>A generated document and the exact natural-log probability the grammar gives its text.</summary>
/// <param name="Text">
/// Words with their leading spaces, e.g. " the dog ran to the river. then it went to the bank and watched the water.";
/// a history document alone starts without one ("The transformer architecture was first introduced in 2017 ...").
/// </param>
public sealed record SyntheticDocument(string Text, double LogProbability, int Sentences);
