using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Tests.Data;

/// <summary>SFT rows: the built-in corpus's instructions, the held-out split, the response-only targets, and JSON Lines files.</summary>
public sealed class InstructionDatasetTests
{
    private static readonly Lazy<InstructionDataset> Built = new(() =>
        InstructionDataset.Synthetic(new SyntheticCorpus(1337), TestData.Synthetic.Vocabulary, 64, trainExamples: 2_000, validationExamples: 200));

    private static InstructionDataset Synthetic => Built.Value;

    private static ModelVocabulary Vocabulary => TestData.Synthetic.Vocabulary;

    [Fact]
    public void Row_ScoresTheResponseAndTheClosingEndOfDocumentOnly()
    {
        var batch = Synthetic.TrainBatch(seed: 5, step: 2, microBatch: 0, replica: 0, microBatchesPerReplica: 1, batchSize: 4, replicas: 1);

        for (var row = 0; row < batch.BatchSize; row++)
        {
            var inputs = batch.Inputs.Skip(row * 64).Take(64).ToArray();
            var targets = batch.Targets.Skip(row * 64).Take(64).ToArray();
            Assert.Equal(ModelVocabulary.EndOfDocument, inputs[0]);
            var scored = targets.Select((t, i) => (t, i)).Where(p => p.t != TokenBatch.IgnoreIndex).ToArray();
            var first = scored[0].i;
            Assert.Equal(Enumerable.Range(first, scored.Length), scored.Select(p => p.i)); // one contiguous run
            Assert.Equal(ModelVocabulary.EndOfDocument, scored[^1].t);
            var response = Vocabulary.DecodeText(scored[..^1].Select(p => (int)p.t));
            var prompt = Vocabulary.DecodeText(inputs[1..(first + 1)].Select(t => (int)t));
            var example = Synthetic.TrainExamples.Single(e => e.Instruction + InstructionDataset.Separator == prompt && e.Response == response);
            Assert.StartsWith(" describe", example.Instruction, StringComparison.Ordinal);
            // Inputs continue with the response, and the targets are the inputs shifted by one.
            for (var i = first; i < scored[^1].i; i++)
            {
                Assert.Equal(inputs[i + 1], targets[i]);
            }
        }
    }

    [Fact]
    public void HeldOut_NoValidationInstructionWasTrainedOn()
    {
        var trained = Synthetic.TrainExamples.Select(e => e.Instruction).ToHashSet(StringComparer.Ordinal);

        Assert.All(Synthetic.ValidationExamples, e => Assert.DoesNotContain(e.Instruction, trained));
        Assert.All(Synthetic.ValidationExamples, e => Assert.True(InstructionDataset.IsHeldOut(e.Instruction)));
        Assert.True(Synthetic.ValidationExamples.Select(e => e.Instruction).Distinct().Count() > 50);
    }

    /// <summary>R replicas of M micro-batches read the rows one process reads as M x R, and agree on the step's count.</summary>
    [Fact]
    public void TrainBatch_ReplicasAndMicroBatches_NumberTheGlobalRowsLikeOneProcess()
    {
        var single = Enumerable.Range(0, 4).Select(m => Synthetic.TrainBatch(9, 3, m, 0, 4, 2, 1)).ToArray();
        var split = (from r in Enumerable.Range(0, 2) from m in Enumerable.Range(0, 2) select Synthetic.TrainBatch(9, 3, m, r, 2, 2, 2)).ToArray();

        Assert.Equal(single.SelectMany(b => b.Inputs), split.SelectMany(b => b.Inputs));
        Assert.Equal(single.SelectMany(b => b.Targets), split.SelectMany(b => b.Targets));
        var total = single.Sum(b => (long)b.TargetCount);
        Assert.All(single.Concat(split), b => Assert.Equal(total, b.StepTargetCount));
        Assert.NotEqual(single[0].Inputs, Synthetic.TrainBatch(9, 4, 0, 0, 4, 2, 1).Inputs); // another step draws other rows
    }

    [Fact]
    public void ValidationBatches_CoverEveryHeldOutExampleOnce()
    {
        var batches = Synthetic.ValidationBatches(batchSize: 64).ToList();

        Assert.Equal(200, batches.Sum(b => b.BatchSize));
        Assert.Equal(Synthetic.ValidationExamples.Sum(e => Vocabulary.EncodeText(e.Response).Length + 1L), batches.Sum(b => (long)b.TargetCount));
    }

    [Fact]
    public void JsonLines_GoodFile_KeepsEveryTenthForValidationAndSkipsBlankLines()
    {
        var lines = Enumerable.Range(0, 12).Select(i => $$"""{"instruction": " describe the dog at the river", "response": " the dog ran to the river{{(i % 2 == 0 ? "." : ". then it was happy.")}}"}""");
        var text = string.Join("\n", lines.Take(5)) + "\n\n" + string.Join("\r\n", lines.Skip(5)) + "\n";

        var data = InstructionDataset.FromJsonLines("pairs.jsonl", text, Vocabulary, 64);

        Assert.Equal(11, data.TrainExamples.Count);
        Assert.Single(data.ValidationExamples);
        Assert.Equal(" the dog ran to the river. then it was happy.", data.ValidationExamples[0].Response); // the 10th example
    }

    [Theory]
    [InlineData("{\"instruction\": \"a\", \"response\": \"b\"", 2, "not valid JSON")]
    [InlineData("[\"a\", \"b\"]", 2, "expected a JSON object")]
    [InlineData("{\"instruction\": \"a\"}", 2, "missing the field 'response'")]
    [InlineData("{\"response\": \"b\"}", 2, "missing the field 'instruction'")]
    [InlineData("{\"instruction\": \"a\", \"response\": \"b\", \"score\": 1}", 2, "unknown field 'score'")]
    [InlineData("{\"instruction\": \"a\", \"response\": 7}", 2, "the field 'response' must be a string, got a number")]
    [InlineData("{\"instruction\": \"  \", \"response\": \"b\"}", 2, "the field 'instruction' is empty")]
    [InlineData("{\"instruction\": \"a\", \"instruction\": \"c\", \"response\": \"b\"}", 2, "the field 'instruction' appears twice")]
    public void JsonLines_BadLine_IsRefusedNamingTheLineAndTheProblem(string bad, int line, string problem)
    {
        var text = "{\"instruction\": \" describe Anna at the park\", \"response\": \" Anna went to the park.\"}\n" + bad + "\n";

        var error = Assert.Throws<InvalidDataException>(() => InstructionDataset.FromJsonLines("pairs.jsonl", text, Vocabulary, 64));

        Assert.Contains($"'pairs.jsonl', line {line}: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void JsonLines_ExampleLongerThanTheContext_IsRefusedNamingTheLineAndTheCounts()
    {
        var longResponse = string.Concat(Enumerable.Repeat(" the dog ran to the river.", 10));
        var text = $$"""
            {"instruction": " describe Tom at the park", "response": " Tom went to the park."}
            {"instruction": " describe Tom at the park", "response": " Tom went to the park."}
            {"instruction": " describe the dog at the river", "response": "{{longResponse}}"}
            """;

        var error = Assert.Throws<InvalidDataException>(() => InstructionDataset.FromJsonLines("pairs.jsonl", text, Vocabulary, 64));

        Assert.Contains("'pairs.jsonl', line 3: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("more than the context of 64", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n \n")]
    public void JsonLines_NoExamples_IsRefused(string text)
    {
        var error = Assert.Throws<InvalidDataException>(() => InstructionDataset.FromJsonLines("empty.jsonl", text, Vocabulary, 64));
        Assert.Contains("holds no examples", error.Message, StringComparison.Ordinal);
    }
}
