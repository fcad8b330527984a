using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Tests.Tokenization;

public sealed class Gpt2EncodingTests
{
    [Fact]
    public void Gpt2_KnownText_HasPublishedIdsAndRoundTrips()
    {
        // The gpt2 data file has a "Capacity:" header and bare base64 lines; reading it wrongly shifted or failed every ID.
        var gpt2 = TokenEncodings.Get(TokenEncodings.Gpt2);
        Assert.Equal([15496, 995], gpt2.Encode("Hello world"));
        Assert.Equal(50257, gpt2.VocabularySize);
        Assert.Equal(50256, gpt2.EndOfTextId);
        Assert.Equal(" world", gpt2.Describe(995));
        Assert.Equal("Hello world, café 🙂", gpt2.Decode(gpt2.Encode("Hello world, café 🙂")));
    }
}
