/** Hand-written sample documents shared by the relevance tests. */

export const PROCEDURAL: Record<string, string> = {
  recipe: `Classic banana bread

Ingredients: 3 ripe bananas, 1/3 cup melted butter, 1 teaspoon baking soda, 3/4 cup sugar, 1 egg, 1 1/2 cups flour.

1. Preheat the oven to 350°F (175°C) and grease a 4x8 inch loaf pan.
2. In a mixing bowl, mash the ripe bananas with a fork until completely smooth.
3. Stir the melted butter into the mashed bananas.
4. Mix in the baking soda and salt. Stir in the sugar, beaten egg, and vanilla extract.
5. Add the flour and fold gently until just combined.
6. Pour the batter into the prepared loaf pan.
7. Bake for 55 to 65 minutes, until a toothpick inserted into the center comes out clean.
8. Remove from the oven and let cool in the pan for a few minutes. Then transfer to a wire rack to cool completely.
Serve warm or toasted with butter.`,

  cliInstall: `Installing the toolkit on Linux

Before you begin, make sure Node.js 20 or later is installed. Open a terminal and follow these steps.

Step 1: Install the package globally.
$ npm install -g acme-cli

Step 2: Verify the installation. Run \`acme --version\` and check that it prints 2.4 or later.

Step 3: Configure your credentials. Create a file at ~/.acme/config.json, then add your API token:
\`\`\`
{ "token": "YOUR_TOKEN" }
\`\`\`

Step 4: Initialize a project. Navigate to your project folder and run:
$ acme init --template basic

Finally, start the development server with \`acme dev\` and open http://localhost:3000 in your browser.`,

  apiWalkthrough: `Creating an order with the Shop API

First, request an access token from the OAuth endpoint. Send a POST request with your client id and secret:

POST /oauth/token
Content-Type: application/json

The JSON response contains an access_token field. Use it in the Authorization header of every call.

Next, look up the product. Call GET /v1/products?sku=ABC-123 and read the id from the payload.

Then create the order: send POST /v1/orders with a JSON body containing the product id, the quantity and the shipping address. Check the status field of the response; it is "pending" until payment is confirmed.

Once the order is paid, call GET /v1/orders/{id} to confirm it has moved to "processing". Finally, register a webhook at https://api.shop.example/v1/webhooks so that your server is notified when the order ships.`,
};

export const NON_PROCEDURAL: Record<string, string> = {
  news: `The city council voted 7-2 on Tuesday to approve a new budget that increases funding for public transit by 12 percent, officials said. The measure, which had been debated for months, drew criticism from several business groups who argued that the tax increase needed to pay for it would hurt local shops.

"This is a historic investment in our future," said Mayor Linda Park, speaking to reporters after the vote. According to the city's finance department, the plan will add roughly $40 million to the transit budget over the next two years. Opponents told the Herald they were considering a ballot initiative to overturn the decision.`,

  poem: `The fog comes
on little cat feet.

It sits looking
over harbor and city
on silent haunches
and then moves on.

Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date.`,

  review: `I bought this blender for my kitchen last month and I have to say I am really impressed. My old one was noisy and always struggled with ice, but this one crushes it in seconds. The design looks great on my counter and the jar is easy to clean.

The only thing I didn't love is the lid, which is a little hard to get off. Overall, I would definitely recommend it to anyone looking for a powerful blender at a fair price. Five stars from me!`,

  boilerplate: `Home
About Us
Products
Blog
Careers
Contact
Sign In
Subscribe to our newsletter
Privacy Policy | Cookie Policy | Terms of Use | Sitemap
We use cookies to improve your experience. By continuing you accept our privacy policy.
© 2024 Example Corp. All rights reserved. Copyright and trademarks belong to their owners.`,
};
