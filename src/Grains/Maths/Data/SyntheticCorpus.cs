namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>
/// The seeded synthetic corpus: document <c>i</c> comes from <c>DeterministicRandom(Mix(seed, i))</c>, so any
/// document can be regenerated alone. Validation documents start at <see cref="ValidationOffset"/>, far beyond
/// any training index, so the two sets are drawn from disjoint streams.
/// </summary>
public sealed class SyntheticCorpus
{
    /// <summary>Index of validation document 0; training indices stay below it.</summary>
    public const long ValidationOffset = 1L << 40;

    /// <summary>The seed of the built-in corpus, when the user names none.</summary>
    public const long DefaultSeed = 1337;

    // Instruction i comes from Mix(seed, InstructionStream, i): three values, never equal to a document's two.
    private const long InstructionStream = 0x5F7;

    public SyntheticCorpus(long seed = DefaultSeed, SyntheticLexicon? lexicon = null)
    {
        Seed = seed;
        Grammar = new SyntheticGrammar(lexicon ?? SyntheticLexicon.Default);
    }

    public long Seed { get; }

    public SyntheticGrammar Grammar { get; }

    public SyntheticLexicon Lexicon => Grammar.Lexicon;

    public SyntheticDocument Document(long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return Grammar.Sample(new DeterministicRandom(DeterministicRandom.Mix(Seed, index)));
    }

    public SyntheticDocument TrainDocument(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return Document(index);
    }

    public SyntheticDocument ValidationDocument(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return Document(ValidationOffset + index);
    }

    public InstructionExample Instruction(long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return Grammar.SampleInstruction(new DeterministicRandom(DeterministicRandom.Mix(Seed, InstructionStream, index)));
    }
}
