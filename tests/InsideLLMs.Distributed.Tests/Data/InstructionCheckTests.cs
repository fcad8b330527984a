using InsideLLMs.Distributed.Maths.Data;

namespace InsideLLMs.Distributed.Tests.Data;

/// <summary>The instruction-accuracy rule of the SFT benchmark.</summary>
public sealed class InstructionCheckTests
{
    private static readonly InstructionCheck Check = InstructionCheck.Default;

    [Fact]
    public void TheGrammarsOwnResponses_SatisfyTheirInstructions()
    {
        var corpus = new SyntheticCorpus(3);
        for (var i = 0; i < 500; i++)
        {
            var example = corpus.Instruction(i);
            var verdict = Check.Check(example.Instruction, example.Response, ended: true);
            Assert.True(verdict.Satisfied, $"{example.Instruction} -> {example.Response}: {verdict}");
        }
    }

    [Theory]
    [InlineData(" describe the dogs at the river", " the dogs ran to the river. then they went to the bank and caught a fish.", true, true)]
    [InlineData(" describe the dogs at the river", " the dogs ran to the river. then they went to the bank and caught a fish.", false, false)] // cut by the context
    [InlineData(" describe the dogs at the river", " the cats ran to the river. then they went to the bank and caught a fish.", true, false)] // another entity
    [InlineData(" describe the dogs at the river", " the dogs ran to the park. then they were happy.", true, false)] // another place
    [InlineData(" describe the dogs at the river", " the dogs ran to the river. then they went to the bank and paid the loan.", true, false)] // wrong sense
    [InlineData(" describe the dogs at the river", " the dogs ran to the river. then they was happy.", true, false)] // agreement
    [InlineData(" describe Anna with the money", " Anna found some money in the park. soon she went to the bank and saved the money.", true, true)]
    [InlineData(" describe Anna with the money", " Anna found some money in the park. soon he went to the bank and saved the money.", true, false)] // pronoun
    [InlineData(" describe Anna at the park", " Anna walked to the park. later Anna left the park.", true, true)]
    [InlineData(" describe Anna at the park", " Anna walked to the park. later she went to the bank and saved the money.", true, false)] // a bank without context
    [InlineData(" describe Anna at the park", " Anna walked to the park", true, false)] // no full stop
    public void Check_JudgesEachPart(string instruction, string response, bool ended, bool satisfied) =>
        Assert.Equal(satisfied, Check.Check(instruction, response, ended).Satisfied);

    [Fact]
    public void Check_NotABuiltInInstruction_IsRefused() =>
        Assert.Throws<ArgumentException>(() => Check.Check(" write a poem", " roses are red.", ended: true));
}
